// Autosave for the post form: what is typed is sent every few seconds, and when the page is hidden or left, to the
// address in the form's data-autosave attribute (autosave.py). It is a progressive enhancement: without
// JavaScript the form works as before, and nothing here ever saves the post itself.
(function () {
  "use strict";
  const form = document.querySelector("form[data-autosave]");
  if (!form) {
    return;
  }
  const status = document.getElementById("autosave-status");
  const FIELDS = ["title", "excerpt", "body", "tags"];
  const EVERY_MILLISECONDS = 5000;

  function words() {
    return FIELDS.map((name) => (form.elements[name] ? form.elements[name].value : ""));
  }
  function snapshot() {
    const data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    FIELDS.forEach((name, index) => data.append(name, words()[index]));
    return data;
  }
  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  let kept = JSON.stringify(words());
  let leaving = false;
  form.addEventListener("submit", () => {
    leaving = true; // the form itself is being sent: that saves (or re-shows) everything
  });

  async function autosave() {
    const now = JSON.stringify(words());
    if (leaving || now === kept) {
      return;
    }
    try {
      const response = await fetch(form.dataset.autosave, {
        method: "POST",
        body: snapshot(),
        credentials: "same-origin",
        redirect: "manual",
      });
      if (response.status === 204) {
        kept = now;
        const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        say("Autosaved at " + time + ".");
      } else if (response.type === "opaqueredirect") {
        say("Not autosaved: your login ended. Press Save: you log in again and your text is kept.");
      } else {
        const answer = await response.json().catch(() => ({}));
        say(answer.error || "Not autosaved (the blog answered " + response.status + ").");
      }
    } catch (error) {
      say("Not autosaved: the blog did not answer. Your text is still here.");
    }
  }

  window.setInterval(autosave, EVERY_MILLISECONDS);
  document.addEventListener("visibilitychange", () => {
    const now = JSON.stringify(words());
    if (document.visibilityState === "hidden" && !leaving && now !== kept) {
      navigator.sendBeacon(form.dataset.autosave, snapshot());
      kept = now;
    }
  });
})();

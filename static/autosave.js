// Autosave for the post form: what is typed is sent every few seconds, and when the page is hidden or left, to the
// address in the form's data-autosave attribute (admin/autosave.py). A new post is first kept as a draft once it
// has a title; the form then edits that draft (its address and the page's). A lapsed login or form token keeps the
// text here and tries again. It is a progressive enhancement: without JavaScript the form works as before, and
// nothing here ever saves the post itself.
(function () {
  "use strict";
  const form = document.querySelector("form[data-autosave]");
  if (!form) {
    return;
  }
  const status = document.getElementById("autosave-status");
  const FIELDS = ["title", "excerpt", "body", "tags"];
  const EVERY_MILLISECONDS = 5000;
  const KEEPALIVE_BYTES = 60000; // browsers send at most 64 KB from a page being closed
  let kept = isNew() ? "" : JSON.stringify(words()); // a new post shown again (after Preview) is kept too
  let since = null; // what this page last autosaved, as the blog answered: another tab's words since are noticed
  let sending = null; // the autosave on its way, if one is
  let leaving = false;

  function words() {
    return FIELDS.map((name) => (form.elements[name] ? form.elements[name].value : ""));
  }
  function snapshot() {
    const data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    FIELDS.forEach((name, index) => data.append(name, words()[index]));
    if (since !== null) {
      data.append("since", since);
    }
    return data;
  }
  function say(text, link) {
    if (!status) {
      return;
    }
    status.textContent = text;
    if (link) {
      const anchor = document.createElement("a");
      anchor.href = form.dataset.login;
      anchor.target = "_blank";
      anchor.textContent = link;
      status.append(" ", anchor, ", then come back: your text is still here and is autosaved then.");
    }
  }
  function isNew() {
    return "newPost" in form.dataset;
  }
  function editDraft(draft) {
    form.dataset.autosave = draft.autosave;
    form.action = draft.edit;
    delete form.dataset.newPost;
    window.history.replaceState(window.history.state, "", draft.edit);
  }

  async function autosave(leavingPage) {
    const now = JSON.stringify(words());
    const title = form.elements.title;
    if (leaving || now === kept) {
      return;
    }
    if (isNew() && (!title.value.trim() || (!leavingPage && document.activeElement === title))) {
      return; // a new post is kept once its title is typed, so the list of posts shows the whole title
    }
    let response;
    try {
      response = await fetch(form.dataset.autosave, {
        method: "POST",
        body: snapshot(),
        credentials: "same-origin",
        redirect: "manual",
        keepalive: leavingPage && new Blob([now]).size < KEEPALIVE_BYTES,
      });
    } catch (error) {
      say("Not autosaved: the blog did not answer. Your text is still here.");
      return;
    }
    if (response.ok) {
      const answer = await response.json().catch(() => ({}));
      kept = now;
      since = answer.since;
      if (answer.edit) {
        editDraft(answer);
      }
      const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      say(("Autosaved at " + time + ". " + (answer.warning || "")).trim());
    } else if (response.type === "opaqueredirect") {
      say("Not autosaved: your login ended.", "Log in again in a new tab");
    } else {
      const answer = await response.json().catch(() => ({}));
      if (answer.csrf_token && answer.csrf_token !== form.elements.csrf_token.value) {
        form.elements.csrf_token.value = answer.csrf_token; // Save needs it too
        return autosave(leavingPage);
      }
      say(answer.error || "Not autosaved (the blog answered " + response.status + ").");
    }
  }
  function send(leavingPage) {
    if (!sending) {
      sending = autosave(leavingPage).finally(() => {
        sending = null;
      });
    }
    return sending;
  }

  form.addEventListener("submit", (event) => {
    if (sending && isNew()) {
      // The draft is being made: send the form to it once it is, rather than making a second post.
      event.preventDefault();
      const button = event.submitter;
      sending.then(() => (button ? form.requestSubmit(button) : form.requestSubmit()));
      return;
    }
    leaving = true; // the form itself is being sent: that saves (or re-shows) everything
  });
  window.setInterval(() => send(false), EVERY_MILLISECONDS);
  window.addEventListener("focus", () => send(false)); // back from logging in again in another tab
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      send(true);
    }
  });
  window.addEventListener("pagehide", () => send(true));
})();

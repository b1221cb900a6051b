// Images pasted or dropped into the post's text: the author describes the image in a small dialog, the image is
// sent to the address in the form's data-media-upload attribute (admin/media.py) and the Markdown that shows it is
// inserted where the cursor was. A progressive enhancement: without JavaScript the form's own "Add an image"
// fields do the same, adding the image at the end of the text.
(function () {
  "use strict";
  const form = document.querySelector("form[data-media-upload]");
  const dialog = document.getElementById("image-dialog");
  if (!form || !dialog || typeof dialog.showModal !== "function") {
    return;
  }
  const text = form.elements.body;
  const alt = document.getElementById("image-dialog-alt");
  const decorative = document.getElementById("image-dialog-decorative");
  const problem = document.getElementById("image-dialog-error");
  const status = document.getElementById("media-status");
  const insertButton = dialog.querySelector("button[value=insert]");
  let file = null;
  let cursor = [0, 0];
  let preview = null;

  function say(message) {
    problem.textContent = message;
    problem.hidden = !message;
  }

  function imageIn(transfer) {
    const files = transfer ? Array.from(transfer.files || []) : [];
    return files.find((candidate) => candidate.type.startsWith("image/")) || null;
  }

  function ask(image) {
    file = image;
    cursor = [text.selectionStart, text.selectionEnd];
    alt.value = "";
    decorative.checked = false;
    say("");
    if (preview) {
      preview.remove();
    }
    preview = document.createElement("img");
    preview.alt = "";
    preview.className = "image-dialog-preview";
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      preview.src = reader.result;
    });
    reader.readAsDataURL(image);
    alt.closest(".field").before(preview);
    dialog.showModal();
    alt.focus();
  }

  function insert(snippet) {
    const [start, end] = cursor;
    text.value = text.value.slice(0, start) + snippet + text.value.slice(end);
    text.focus();
    text.setSelectionRange(start + snippet.length, start + snippet.length);
    text.dispatchEvent(new Event("input", { bubbles: true }));
  }

  async function send() {
    const data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    data.append("image", file, file.name || "pasted-image");
    data.append("alt", alt.value.trim());
    if (decorative.checked) {
      data.append("decorative", "y");
    }
    data.append("format", form.elements.format ? form.elements.format.value : "");
    insertButton.disabled = true;
    say("");
    try {
      const response = await fetch(form.dataset.mediaUpload, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        redirect: "manual",
      });
      if (response.status === 201) {
        const answer = await response.json();
        dialog.close();
        insert(answer.snippet);
        status.textContent = "Image inserted. Press “Save” to keep it in the post.";
      } else if (response.type === "opaqueredirect") {
        say("Your login ended: press Save (your text is kept and you log in again), then add the image again.");
      } else if (response.status === 413) {
        say("That image is far too large to send. Please make it smaller and try again.");
      } else {
        const answer = await response.json().catch(() => ({}));
        say(answer.error || "The image was not uploaded (the blog answered " + response.status + ").");
      }
    } catch (error) {
      say("The blog did not answer, so the image was not uploaded. Please try again.");
    } finally {
      insertButton.disabled = false;
    }
  }

  dialog.querySelector("form").addEventListener("submit", (event) => {
    const pressed = event.submitter ? event.submitter.value : "insert";
    if (pressed === "cancel") {
      return; // the dialog closes; the text is as it was
    }
    event.preventDefault();
    if (!alt.value.trim() && !decorative.checked) {
      say("Please describe the image for people who cannot see it, or tick “Decorative”.");
      alt.focus();
      return;
    }
    send();
  });
  dialog.addEventListener("close", () => text.focus());

  text.addEventListener("paste", (event) => {
    const image = imageIn(event.clipboardData);
    if (image) {
      event.preventDefault();
      ask(image);
    }
  });
  text.addEventListener("dragover", (event) => {
    if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
      event.preventDefault();
    }
  });
  text.addEventListener("drop", (event) => {
    const image = imageIn(event.dataTransfer);
    if (image) {
      event.preventDefault();
      text.focus();
      ask(image);
    }
  });
})();

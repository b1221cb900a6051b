// A "Copy" button on each code block of a post: a progressive enhancement, loaded (deferred) only on a post or
// page with code. Without JavaScript, or without a clipboard the browser lets pages write to (https or the
// machine itself), nothing is added and the code is selected and copied as any text.
(function () {
  "use strict";
  const blocks = document.querySelectorAll(".post-body pre");
  if (!blocks.length || !navigator.clipboard || !window.isSecureContext) {
    return;
  }
  const status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  document.querySelector(".post-body").append(status);

  blocks.forEach((pre) => {
    const wrapper = document.createElement("div");
    wrapper.className = "code-block";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code secondary";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code");
    pre.replaceWith(wrapper);
    wrapper.append(button, pre);
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(pre.innerText).then(
        () => {
          button.textContent = "Copied";
          status.textContent = "Code copied";
          setTimeout(() => {
            button.textContent = "Copy";
            status.textContent = "";
          }, 2000);
        },
        () => {
          status.textContent = "The browser did not let the page copy: select the code and copy it instead.";
        },
      );
    });
  });
})();

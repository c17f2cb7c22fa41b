// Small behaviours for every page, here rather than inline: the Content-Security-Policy runs
// no inline script or event handler.
(function () {
  "use strict";
  // A control marked data-submit-on-change sends its form when its value changes (the form
  // keeps a button inside <noscript> for browsers without JavaScript).
  document.addEventListener("change", function (event) {
    const control = event.target.closest("[data-submit-on-change]");
    if (control && control.form) control.form.requestSubmit();
  });
})();

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

  // A question row shows the settings of its kind only: options for single and multi, the
  // range for rating (labels marked data-kinds="rating ...").
  function showKindSettings(row) {
    const kind = row.querySelector("select[name$='-kind']");
    if (!kind) return;
    for (const label of row.querySelectorAll("[data-kinds]")) {
      label.hidden = !label.dataset.kinds.split(" ").includes(kind.value);
    }
  }
  document.addEventListener("change", function (event) {
    const row = event.target.closest(".question-row");
    if (row && event.target.matches("select[name$='-kind']")) showKindSettings(row);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".question-row").forEach(showKindSettings);
  });

  // A button marked data-copy="#id" copies that field's text (a set-password link); a field
  // marked data-select-on-focus selects itself, for copying by keyboard.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const field = document.querySelector(button.dataset.copy);
    if (!field) return;
    field.select();
    const done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {});
    } else if (document.execCommand("copy")) {
      done();
    }
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.matches("[data-select-on-focus]")) event.target.select();
  });
})();

// Keyboard-first labeling: number keys answer the active question, arrows move (into a text
// question's box), Enter or Ctrl+Enter submits, S skips, U undoes the skip, R toggles raw text,
// ? lists the shortcuts (_shortcuts.html, README's "Keyboard first": keep the three in step).
// While a text box has the focus every key is text, but Esc (leave the box) and Ctrl+Enter.
// Time is counted while the tab is visible.
(function () {
  "use strict";
  const form = document.getElementById("label-form");
  const undo = document.getElementById("unskip-form");
  const NOT_TEXT = new Set(["checkbox", "radio", "button", "submit", "reset", "image", "file",
    "range", "color", "hidden"]);
  function isTextField(el) {
    if (!el || el.nodeType !== 1) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && !NOT_TEXT.has((el.type || "text").toLowerCase());
  }
  function plainKey(event) {
    // Not text being written: no input method composing, no text box, no modifier.
    return !event.isComposing && !isTextField(event.target) &&
      !(event.ctrlKey || event.metaKey || event.altKey);
  }
  if (!form) {
    // "Nothing left" after a skip: U still takes the skip back.
    if (undo) {
      document.addEventListener("keydown", function (event) {
        if (plainKey(event) && (event.key === "u" || event.key === "U")) {
          event.preventDefault();
          undo.requestSubmit();
        }
      });
    }
    return;
  }
  const questions = Array.from(form.querySelectorAll("[data-question]"));
  const dialog = document.getElementById("shortcuts");
  let active = 0;

  // Time on task: only while the page is visible.
  let spent = 0;
  let since = document.visibilityState === "visible" ? performance.now() : null;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { since = performance.now(); }
    else if (since !== null) { spent += performance.now() - since; since = null; }
  });
  function stampTime() {
    const total = spent + (since !== null ? performance.now() - since : 0);
    document.querySelectorAll("[data-time-spent]").forEach(function (input) {
      input.value = (total / 1000).toFixed(2);
    });
  }
  document.querySelectorAll("form").forEach(function (f) { f.addEventListener("submit", stampTime); });

  // The label form is sent by htmx (hx-post, nothing swapped): the next item is loaded only once
  // the server has answered. When it cannot be reached (restarting, network down) or refuses,
  // the page stays as it is, answers and all, and the alert says what to do.
  const alertBox = form.querySelector("[data-form-alert]");
  const KEPT = " — your answers are kept; press Enter to try again.";
  function warn(text) {
    alertBox.textContent = text;
    alertBox.hidden = false;
  }
  // Signing in again (in another tab) gives a new CSRF token: send the cookie's, not the page's.
  form.addEventListener("submit", function () {
    const cookie = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    const field = form.querySelector("[name=csrfmiddlewaretoken]");
    if (cookie && field) field.value = decodeURIComponent(cookie[1]);
  });
  function refusal(xhr) {
    // A 400 is the page again with the reason (a required answer missing): show the reason.
    const page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    const reason = page.querySelector("#label-form [data-form-alert]");
    return reason && reason.textContent.trim();
  }
  if (alertBox) {
    form.addEventListener("htmx:sendError", function () { warn("Could not reach the server" + KEPT); });
    form.addEventListener("htmx:responseError", function (event) {
      const xhr = event.detail.xhr;
      warn((xhr.status === 400 && refusal(xhr)) || "The server answered " + xhr.status + KEPT);
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      // Stored: the server says where to go (HX-Redirect) and htmx goes there.
      if (!event.detail.successful || event.detail.xhr.getResponseHeader("HX-Redirect")) return;
      // Else the request followed the server's redirects: a login page means signed out.
      const next = new URL(event.detail.xhr.responseURL || form.action, window.location.href);
      if (next.pathname === form.dataset.loginUrl) {
        warn("You are signed out: sign in again in another tab" + KEPT);
        return;
      }
      window.location.assign(next.href);
    });
  }

  // A skip keeps the answers given so far in this tab (sessionStorage, never the server), so
  // that "Undo skip", which brings the item back, can put them back too.
  const DRAFT = "annotate:skipped-answers";
  const skipForm = document.getElementById("skip-form");
  function answersGiven() {
    const given = [];
    form.querySelectorAll("[data-question] textarea, [data-question] input").forEach(function (el) {
      if (el.tagName === "TEXTAREA" || el.checked) given.push([el.name, el.value]);
    });
    return given;
  }
  function restoreAnswers(given) {
    form.querySelectorAll("[data-question] input").forEach(function (el) { el.checked = false; });
    given.forEach(function (pair) {
      form.querySelectorAll("[data-question] [name=\"" + CSS.escape(pair[0]) + "\"]").forEach(function (el) {
        if (el.tagName === "TEXTAREA") el.value = pair[1];
        else if (el.value === pair[1]) el.checked = true;
      });
    });
  }
  if (skipForm) {
    skipForm.addEventListener("submit", function () {
      try {
        sessionStorage.setItem(DRAFT, JSON.stringify({ action: form.action, answers: answersGiven() }));
      } catch (e) { /* storage full or off: the item still comes back, without the answers */ }
    });
    let draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(DRAFT) || "null"); } catch (e) { draft = null; }
    if (draft && draft.action === form.action) {
      restoreAnswers(draft.answers);
      sessionStorage.removeItem(DRAFT);
    }
  }

  function activate(index) {
    if (!questions.length) return;
    active = Math.max(0, Math.min(index, questions.length - 1));
    questions.forEach(function (q, i) { q.classList.toggle("active", i === active); });
    questions[active].scrollIntoView({ block: "nearest" });
  }
  // Moving by key puts the focus where the next keys go: a text question's box (caret at the
  // end, so typing goes into it and not to the shortcuts), else the question itself.
  function moveTo(index) {
    if (!questions.length) return;
    activate(index);
    const q = questions[active];
    const box = q.querySelector("textarea");
    if (box) {
      box.focus({ preventScroll: true });
      box.setSelectionRange(box.value.length, box.value.length);
    } else {
      q.focus({ preventScroll: true });
    }
  }
  function isChoice(q) { return q.dataset.kind !== "text" && q.dataset.kind !== "correction"; }
  function nextChoiceQuestion(from) {
    for (let i = from + 1; i < questions.length; i++) { if (isChoice(questions[i])) return i; }
    return from;
  }
  function answer(digit) {
    const q = questions[active];
    if (!q || !isChoice(q)) return;
    const inputs = q.querySelectorAll("input");
    const index = digit === 0 ? 9 : digit - 1;
    const input = inputs[index];
    if (!input) return;
    if (input.type === "checkbox") { input.checked = !input.checked; return; }
    input.checked = true;
    // A rating or single choice is answered: on to the next choice question (text boxes are
    // reached with ↓/↑), as the ? list and README say.
    moveTo(nextChoiceQuestion(active));
  }
  function toggleRaw() {
    let showRaw = false;
    document.querySelectorAll(".output-card").forEach(function (card) {
      const raw = card.querySelector("[data-raw]");
      const rendered = card.querySelector("[data-rendered]");
      showRaw = raw.hidden;
      raw.hidden = !showRaw;
      rendered.hidden = showRaw;
    });
    document.querySelectorAll("[data-toggle-raw]").forEach(function (b) {
      b.textContent = showRaw ? "Show rendered Markdown" : "Show raw text";
    });
  }
  function toggleDiff() {
    const diff = document.querySelector("[data-diff]");
    if (!diff) return;
    diff.hidden = !diff.hidden;
    document.querySelectorAll("[data-toggle-diff]").forEach(function (b) {
      b.textContent = diff.hidden ? "Show differences" : "Hide differences";
    });
  }
  // "Scroll together": the two answers of a pair scroll in step, at the same fraction of their
  // length (remembered in this browser). A scroll this code caused is not echoed back.
  const SYNC = "annotate:scroll-together";
  const scrollers = Array.from(document.querySelectorAll("[data-pair] [data-scroll]"));
  const syncBox = document.querySelector("[data-sync-scroll]");
  const echo = new Map();
  function scrollTogether() { return syncBox !== null && syncBox.checked; }
  if (syncBox) {
    try { syncBox.checked = localStorage.getItem(SYNC) !== "off"; } catch (e) { /* storage off: on */ }
    syncBox.addEventListener("change", function () {
      try { localStorage.setItem(SYNC, syncBox.checked ? "on" : "off"); } catch (e) { /* not kept */ }
    });
  }
  scrollers.forEach(function (source) {
    source.addEventListener("scroll", function () {
      if (echo.has(source) && Math.abs(echo.get(source) - source.scrollTop) < 2) {
        echo.delete(source);
        return;
      }
      echo.delete(source);
      if (!scrollTogether()) return;
      const range = source.scrollHeight - source.clientHeight;
      const fraction = range > 0 ? source.scrollTop / range : 0;
      scrollers.forEach(function (other) {
        if (other === source) return;
        const top = Math.round(fraction * (other.scrollHeight - other.clientHeight));
        if (Math.abs(other.scrollTop - top) < 1) return;
        echo.set(other, top);
        other.scrollTop = top;
      });
    }, { passive: true });
  });

  function follow(key) {
    const link = document.querySelector('a[data-key="' + key + '"]');
    if (link) window.location.href = link.href;
  }

  document.querySelectorAll("[data-toggle-raw]").forEach(function (b) { b.addEventListener("click", toggleRaw); });
  document.querySelectorAll("[data-toggle-diff]").forEach(function (b) { b.addEventListener("click", toggleDiff); });
  document.querySelectorAll("[data-help-open]").forEach(function (b) {
    b.addEventListener("click", function () { dialog.showModal(); });
  });
  questions.forEach(function (q, i) { q.addEventListener("focusin", function () { activate(i); }); });

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (event.isComposing) return;  // an input method is building a character
    // Ctrl+Enter (⌘+Enter) submits from anywhere, a text box included.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !dialog.open) {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (isTextField(target)) {
      // In a text box every key is text (Enter a new line); Esc goes back to the questions.
      if (event.key === "Escape") {
        event.preventDefault();
        const question = target.closest("[data-question]");
        if (question) question.focus({ preventScroll: true }); else target.blur();
      }
      return;
    }
    if (!plainKey(event)) return;
    // Enter or Space on a focused link or button does what that control does, not submit.
    if (target.closest && target.closest("a, button, summary") && (event.key === "Enter" || event.key === " ")) return;
    if (dialog.open && event.key !== "?") return;
    if (/^[0-9]$/.test(event.key)) { event.preventDefault(); answer(Number(event.key)); }
    else if (event.key === "Enter") { event.preventDefault(); form.requestSubmit(); }
    else if (event.key === "s" || event.key === "S") {
      const skip = document.getElementById("skip-form");
      if (skip) { event.preventDefault(); skip.requestSubmit(); }
    }
    else if (event.key === "u" || event.key === "U") {
      if (undo) { event.preventDefault(); undo.requestSubmit(); }
    }
    else if (event.key === "ArrowDown") { event.preventDefault(); moveTo(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); moveTo(active - 1); }
    else if (event.key === "ArrowLeft" || event.key === "ArrowRight") { event.preventDefault(); follow(event.key); }
    else if (event.key === "r" || event.key === "R") { event.preventDefault(); toggleRaw(); }
    else if (event.key === "d" || event.key === "D") { event.preventDefault(); toggleDiff(); }
    else if (event.key === "?") { event.preventDefault(); if (dialog.open) dialog.close(); else dialog.showModal(); }
  });

  activate(0);
})();

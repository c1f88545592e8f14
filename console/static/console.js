// Guided Response console: the little that HTML and htmx do not do. Everything here is an enhancement:
// without it the pages still work (forms post and redirect, every panel is shown).
(function () {
  "use strict";

  // Every htmx request carries the session's form token (the server refuses a change without it).
  document.addEventListener("htmx:configRequest", function (e) {
    var token = document.body.getAttribute("data-csrf");
    if (token) { e.detail.headers["X-CSRF-Token"] = token; }
  });

  // The determination list shows only the determinations of the chosen classification.
  function syncDeterminations(root) {
    root.querySelectorAll("select[data-determinations]").forEach(function (cls) {
      var det = document.getElementById(cls.getAttribute("data-determinations"));
      if (!det || cls.getAttribute("data-bound")) { return; }
      cls.setAttribute("data-bound", "true");
      var apply = function () {
        det.querySelectorAll("optgroup").forEach(function (g) {
          var match = g.getAttribute("data-classification") === cls.value;
          g.hidden = !match;
          g.disabled = !match;
        });
        var chosen = det.options[det.selectedIndex];
        if (chosen && chosen.parentElement && chosen.parentElement.disabled) { det.value = ""; }
      };
      cls.addEventListener("change", apply);
      apply();
    });
  }

  // Copy buttons copy the text of the element they name.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("button[data-copy]");
    if (!btn) { return; }
    var src = document.getElementById(btn.getAttribute("data-copy"));
    var note = btn.nextElementSibling && btn.nextElementSibling.classList.contains("copied") ? btn.nextElementSibling : null;
    if (!src) { return; }
    var text = src.textContent;
    var done = function (ok) {
      btn.setAttribute("data-copied", ok ? "true" : "false");
      if (note) { note.textContent = ok ? "Copied." : "Select the query and copy it."; }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      var range = document.createRange();
      range.selectNodeContents(src);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
      done(ok);
    }
  });

  // Tabs (WAI-ARIA tabs pattern): one panel shown, arrow keys move between tabs.
  function setupTabs(root) {
    root.querySelectorAll("[role=tablist]").forEach(function (list) {
      var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
      var select = function (tab, focus) {
        tabs.forEach(function (t) {
          var on = t === tab;
          t.setAttribute("aria-selected", on ? "true" : "false");
          t.tabIndex = on ? 0 : -1;
          var panel = document.getElementById(t.getAttribute("aria-controls"));
          if (panel) { panel.hidden = !on; }
        });
        if (focus) { tab.focus(); }
      };
      tabs.forEach(function (t, i) {
        t.addEventListener("click", function () { select(t, false); });
        t.addEventListener("keydown", function (e) {
          var j = null;
          if (e.key === "ArrowRight") { j = (i + 1) % tabs.length; }
          if (e.key === "ArrowLeft") { j = (i - 1 + tabs.length) % tabs.length; }
          if (e.key === "Home") { j = 0; }
          if (e.key === "End") { j = tabs.length - 1; }
          if (j !== null) { e.preventDefault(); select(tabs[j], true); }
        });
      });
      var current = tabs.filter(function (t) { return t.getAttribute("aria-selected") === "true"; })[0] || tabs[0];
      if (current) { select(current, false); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncDeterminations(document);
    setupTabs(document);
  });
  document.addEventListener("htmx:afterSettle", function () { syncDeterminations(document); });
})();

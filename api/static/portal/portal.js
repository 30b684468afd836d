/* Tandem's portal pages, enhanced: the pages work without this script.
   - the error summary takes focus, and its links focus the item they name;
   - enableWhen is applied as the client answers (the server checks it again);
   - answers are kept when the client leaves the page (in-progress). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(run) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", run);
    } else {
      run();
    }
  }

  function focusTarget(id) {
    var target = document.getElementById(id);
    if (!target) { return false; }
    var item = target.closest("[data-item]") || target;
    var heading = item.querySelector("legend, .label, .group-title") || item;
    target.focus({ preventScroll: true });
    heading.scrollIntoView({ block: "start" });
    return document.activeElement === target;
  }

  function enhanceSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) { return; }
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (link && focusTarget(link.getAttribute("href").slice(1))) {
        event.preventDefault();
      }
    });
  }

  function enhanceResume() {
    var resume = document.querySelector(".resume a[href^='#']");
    if (!resume) { return; }
    resume.addEventListener("click", function (event) {
      if (focusTarget(resume.getAttribute("href").slice(1))) { event.preventDefault(); }
    });
  }

  function answersOf(form, question) {
    var found = [];
    var inputs = form.querySelectorAll("[data-question='" + question + "']");
    Array.prototype.forEach.call(inputs, function (input) {
      if (input.disabled) { return; }
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked && input.value !== "" && input.value !== "other") { found.push(input.value); }
      } else if (input.value.trim() !== "") {
        found.push(input.value.trim());
      }
    });
    var other = form.querySelector("#" + question + "-other");
    var otherChosen = form.querySelector("#" + question + "-o");
    if (other && otherChosen && otherChosen.checked && !other.disabled && other.value.trim()) {
      found.push(other.value.trim());
    }
    return found;
  }

  function compare(kind, actual, expected) {
    if (kind === "number") {
      var a = parseFloat(String(actual).replace(",", "."));
      return isNaN(a) ? null : a - Number(expected);
    }
    var x = String(actual), y = String(expected);
    return x < y ? -1 : (x > y ? 1 : 0);
  }

  function holds(form, condition) {
    if (condition.kind === "unknown") { return true; }
    var answers = answersOf(form, condition.q);
    if (condition.op === "exists") { return (answers.length > 0) === (condition.value === true); }
    var equal = function (answer) { return compare(condition.kind, answer, condition.value) === 0; };
    if (condition.op === "!=") { return !answers.some(equal); }
    if (condition.op === "=") { return answers.some(equal); }
    return answers.some(function (answer) {
      var order = compare(condition.kind, answer, condition.value);
      if (order === null) { return false; }
      return (condition.op === ">" && order > 0) || (condition.op === "<" && order < 0) ||
        (condition.op === ">=" && order >= 0) || (condition.op === "<=" && order <= 0);
    });
  }

  function applyEnableWhen(form) {
    var items = form.querySelectorAll("[data-enable-when]");
    for (var round = 0; round < 10; round += 1) {
      var changed = false;
      Array.prototype.forEach.call(items, function (item) {
        var conditions = JSON.parse(item.getAttribute("data-enable-when"));
        var results = conditions.map(function (condition) { return holds(form, condition); });
        var enabled = item.getAttribute("data-enable-behavior") === "any" ?
          results.some(Boolean) : results.every(Boolean);
        if (item.hidden === !enabled) { return; }
        changed = true;
        item.hidden = !enabled;
        Array.prototype.forEach.call(item.querySelectorAll("input, textarea, select"), function (input) {
          input.disabled = !enabled;
        });
      });
      if (!changed) { break; }
    }
  }

  function enhanceForm() {
    var form = document.querySelector("form[data-questionnaire]");
    if (!form) { return; }
    applyEnableWhen(form);
    var dirty = false;
    var sending = false;
    var changed = function () { dirty = true; applyEnableWhen(form); };
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    form.addEventListener("submit", function () { sending = true; });
    var keep = function () {
      if (!dirty || sending || !navigator.sendBeacon) { return; }
      var data = new URLSearchParams(new FormData(form));
      if (navigator.sendBeacon(form.getAttribute("data-autosave"), data)) { dirty = false; }
    };
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") { keep(); }
    });
    window.addEventListener("pagehide", keep);
  }

  ready(function () {
    enhanceSummary();
    enhanceResume();
    enhanceForm();
  });
}());

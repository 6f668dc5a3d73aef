// What would otherwise be inline markup, which the Content-Security-Policy forbids (script-src and
// style-src 'self', no 'unsafe-inline'): setting styles from script is allowed, style="" is not.
//   <form data-confirm="Question?">   asks before submitting
//   <el data-width="42.5">            width: 42.5%
//   <el data-col="7">                 --col: 7ch (the error caret under a query line)
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
  function apply(root) {
    root.querySelectorAll("[data-width]").forEach(function (el) { el.style.width = parseFloat(el.dataset.width) + "%"; });
    root.querySelectorAll("[data-col]").forEach(function (el) { el.style.setProperty("--col", parseInt(el.dataset.col, 10) + "ch"); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { apply(document); });
  } else {
    apply(document);
  }
})();

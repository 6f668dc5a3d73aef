// The query page: ADQL syntax highlighting over a plain textarea, click-to-insert
// from the schema browser, examples, Ctrl+Enter to run. No build step, no library.
(function () {
  "use strict";
  var input = document.getElementById("query-text");
  var out = document.getElementById("query-highlight");
  if (!input || !out) return;
  var KEYWORDS = ("SELECT FROM WHERE AND OR NOT AS ON JOIN INNER LEFT RIGHT FULL OUTER CROSS NATURAL USING GROUP BY ORDER " +
    "HAVING ASC DESC TOP DISTINCT ALL UNION INTERSECT EXCEPT IN IS NULL LIKE ILIKE BETWEEN EXISTS CASE WHEN THEN ELSE END " +
    "WITH OFFSET LIMIT CAST TRUE FALSE").split(" ");
  var FUNCTIONS = ("COUNT SUM AVG MIN MAX ABS CEILING FLOOR ROUND TRUNCATE SQRT POWER EXP LOG LOG10 MOD PI RAND SIN COS TAN " +
    "ASIN ACOS ATAN ATAN2 DEGREES RADIANS POINT CIRCLE POLYGON BOX REGION CONTAINS INTERSECTS DISTANCE AREA CENTROID COORD1 " +
    "COORD2 COORDSYS LOWER UPPER TRIM COALESCE IN_UNIT").split(" ");
  var kw = new Set(KEYWORDS), fn = new Set(FUNCTIONS);
  var TOKEN = /(--[^\n]*)|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(\b\d+(?:\.\d*)?(?:[eE][+-]?\d+)?\b|\.\d+\b)|([A-Za-z_][A-Za-z0-9_]*)|([\s\S])/g;

  function esc(s) { return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }

  function highlight() {
    var text = input.value, html = "", m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text)) !== null) {
      var t = m[0];
      if (m[1]) html += '<span class="tok-cm">' + esc(t) + "</span>";
      else if (m[2]) html += '<span class="tok-str">' + esc(t) + "</span>";
      else if (m[4]) html += '<span class="tok-num">' + esc(t) + "</span>";
      else if (m[5] && kw.has(t.toUpperCase())) html += '<span class="tok-kw">' + esc(t) + "</span>";
      else if (m[5] && fn.has(t.toUpperCase())) html += '<span class="tok-fn">' + esc(t) + "</span>";
      else html += esc(t);
    }
    out.innerHTML = html + "\n";  // a trailing newline keeps the last line's height
    numberLines();
    sync();
  }

  // Line numbers, and the place of the last error (line, column) marked on its line.
  var gutter = document.getElementById("query-gutter"), mark = document.getElementById("editor-mark");
  var editor = document.getElementById("editor"), lines = 0;
  var errLine = +(editor.dataset.errorLine || 0), errCol = +(editor.dataset.errorColumn || 0);
  function numberLines() {
    var n = input.value.split("\n").length;
    if (n === lines || !gutter) return;
    lines = n;
    var html = "";
    for (var i = 1; i <= n; i++) html += (i === errLine ? '<span class="err">' + i + "</span>" : i) + "\n";
    gutter.innerHTML = html;
  }
  function sync() {
    out.parentNode.scrollTop = input.scrollTop;
    out.parentNode.scrollLeft = input.scrollLeft;
    if (gutter) gutter.scrollTop = input.scrollTop;
  }
  function offsetOf(line, col) {  // 1-based line and column -> index into the text
    var parts = input.value.split("\n"), at = 0;
    for (var i = 0; i < line - 1 && i < parts.length; i++) at += parts[i].length + 1;
    return Math.min(at + Math.max(col - 1, 0), input.value.length);
  }
  function showError(focus) {
    if (!errLine || !mark) return;
    var style = getComputedStyle(input), lh = parseFloat(style.lineHeight), pad = parseFloat(style.paddingTop);
    mark.style.top = pad + (errLine - 1) * lh + "px";
    mark.style.setProperty("--col", "calc(" + style.paddingLeft + " + " + Math.max(errCol - 1, 0) + "ch)");
    mark.hidden = false;
    if (focus) {
      var at = offsetOf(errLine, errCol);
      input.focus();
      input.setSelectionRange(at, at);
      input.scrollTop = Math.max(0, (errLine - 3) * lh);
      sync();
    }
  }
  var goto = document.getElementById("goto-error");
  if (goto) goto.addEventListener("click", function () { showError(true); });
  input.addEventListener("input", function () { if (mark) mark.classList.add("stale"); }, { once: true });

  function insert(text) {
    var start = input.selectionStart, end = input.selectionEnd, v = input.value;
    var before = v.slice(0, start), pad = before && !/[\s(,.]$/.test(before) ? " " : "";
    input.value = before + pad + text + v.slice(end);
    var pos = start + pad.length + text.length;
    input.focus();
    input.setSelectionRange(pos, pos);
    highlight();
  }

  input.addEventListener("input", highlight);
  input.addEventListener("scroll", sync);
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); document.getElementById("query-form").requestSubmit(); }
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey) { e.preventDefault(); insert("    "); }
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button.insert");
    if (b) { e.preventDefault(); insert(b.dataset.insert); return; }
    var ex = e.target.closest("button.example");
    if (ex) { input.value = ex.dataset.query; highlight(); input.focus(); }
  });
  var filter = document.getElementById("browser-filter");
  if (filter) filter.addEventListener("input", function () {
    var q = filter.value.trim().toLowerCase();
    document.querySelectorAll("#browser li.table").forEach(function (li) {
      var hit = !q || li.textContent.toLowerCase().indexOf(q) >= 0;
      li.hidden = !hit;
      if (q && hit) { li.querySelector("details").open = true; li.closest("li.schema").querySelector("details").open = true; }
    });
  });
  highlight();
  showError(errLine > 0 && !input.hasAttribute("data-no-focus"));
})();

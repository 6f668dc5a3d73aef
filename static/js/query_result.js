// The result viewer (pages and sorting done by the server) and quick plots drawn on a canvas.
(function () {
  "use strict";
  var job = document.getElementById("job");
  var tbody = document.querySelector("#result-table tbody");
  if (!job || !tbody) return;
  var offset = 0, sort = null, desc = false, total = 0;
  var latest = 0;  // the newest request: an older answer arriving late (a slow first page) must not replace it
  var sizeEl = document.getElementById("page-size"), info = document.getElementById("page-info");
  var NUMERIC = /^(SMALLINT|INTEGER|BIGINT|REAL|DOUBLE|FLOAT|NUMERIC|DECIMAL)/i;

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number" && !Number.isInteger(v)) return String(Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-4 && v !== 0) ? v.toExponential(6) : +v.toPrecision(10));
    return String(v);
  }
  function load() {
    var size = +sizeEl.value;
    var url = job.dataset.rowsUrl + "?offset=" + offset + "&limit=" + size + (sort ? "&sort=" + encodeURIComponent(sort) + (desc ? "&desc=1" : "") : "") +
      (where ? "&where=" + encodeURIComponent(where) : "");
    info.textContent = "Loading…";
    filterError.hidden = true;
    var mine = ++latest;
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
      if (mine !== latest) return;
      if (d.error) { filterError.textContent = d.error; filterError.hidden = false; info.textContent = ""; return; }
      total = d.total || 0;
      var frag = document.createDocumentFragment();
      var numeric = (d.columns || []).map(function (c) { return NUMERIC.test(c.datatype || ""); });
      d.rows.forEach(function (row) {
        var tr = document.createElement("tr");
        row.forEach(function (v, i) {
          var td = document.createElement("td");
          if (typeof v === "number" || numeric[i]) td.className = "num";  // big integers come as strings
          if (v === null) td.className += " null";
          td.textContent = fmt(v);
          if (hidden[i]) td.hidden = true;
          tr.appendChild(td);
        });
        frag.appendChild(tr);
      });
      tbody.replaceChildren(frag);
      var last = Math.min(offset + d.rows.length, total);
      info.textContent = (total ? "Rows " + (offset + 1).toLocaleString("en") + "–" + last.toLocaleString("en") + " of " + total.toLocaleString("en") : "No rows") +
        (where ? " matching the filter" : "");
      document.getElementById("page-prev").disabled = offset === 0;
      document.getElementById("page-next").disabled = last >= total;
    }).catch(function () { if (mine === latest) info.textContent = "The rows could not be loaded."; });
  }
  // Filter: an ADQL condition run by the engine on the stored table (the server checks and translates it).
  var where = "", filterForm = document.getElementById("filter-form"), filterError = document.getElementById("filter-error");
  filterForm.addEventListener("submit", function (e) { e.preventDefault(); where = document.getElementById("filter-where").value.trim(); offset = 0; load(); });
  document.getElementById("filter-clear").onclick = function () { document.getElementById("filter-where").value = ""; where = ""; offset = 0; load(); };
  // Hide/show columns: cells stay in the DOM, hidden, so the column order never changes.
  var heads = Array.prototype.slice.call(document.querySelectorAll("#result-table thead th"));
  var hidden = heads.map(function () { return false; });
  document.querySelectorAll("#column-picker input[type=checkbox]").forEach(function (box) {
    box.addEventListener("change", function () {
      var i = +box.dataset.index;
      hidden[i] = !box.checked;
      heads[i].hidden = hidden[i];
      tbody.querySelectorAll("tr").forEach(function (tr) { if (tr.children[i]) tr.children[i].hidden = hidden[i]; });
    });
  });
  document.getElementById("page-prev").onclick = function () { offset = Math.max(0, offset - +sizeEl.value); load(); };
  document.getElementById("page-next").onclick = function () { offset += +sizeEl.value; load(); };
  sizeEl.onchange = function () { offset = 0; load(); };
  document.querySelectorAll("#result-table .sort").forEach(function (b) {
    b.onclick = function () {
      if (sort === b.dataset.column) desc = !desc; else { sort = b.dataset.column; desc = false; }
      document.querySelectorAll("#result-table .sort").forEach(function (o) { o.removeAttribute("aria-sort"); });
      b.setAttribute("aria-sort", desc ? "descending" : "ascending");
      offset = 0; load();
    };
  });
  load();

  // ---- plots -------------------------------------------------------------------------
  var canvas = document.getElementById("plot"), ctx = canvas.getContext("2d"), note = document.getElementById("plot-note");
  var M = { l: 70, r: 90, t: 20, b: 50 };
  var VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
  function colour(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    var i = Math.min(Math.floor(t), VIRIDIS.length - 2), f = t - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return "rgb(" + Math.round(a[0] + f * (b[0] - a[0])) + "," + Math.round(a[1] + f * (b[1] - a[1])) + "," + Math.round(a[2] + f * (b[2] - a[2])) + ")";
  }
  function range(vals) {
    var lo = Infinity, hi = -Infinity;
    vals.forEach(function (v) { if (v !== null && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } });
    if (lo === Infinity) return [0, 1];
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    var pad = (hi - lo) * 0.03; return [lo - pad, hi + pad];
  }
  function ticks(lo, hi, n) {
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n))), err = (hi - lo) / n / step;
    step *= err >= 7.5 ? 10 : err >= 3 ? 5 : err >= 1.5 ? 2 : 1;
    var out = []; for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(+v.toPrecision(12)); return out;
  }
  function clear() { ctx.setTransform(1, 0, 0, 1, 0, 0); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height); ctx.font = "13px system-ui, sans-serif"; }
  function axes(xr, yr, xl, yl) {
    var W = canvas.width - M.l - M.r, H = canvas.height - M.t - M.b;
    ctx.strokeStyle = "#333"; ctx.strokeRect(M.l, M.t, W, H); ctx.fillStyle = "#333";
    ctx.textAlign = "center";
    ticks(xr[0], xr[1], 8).forEach(function (v) { var x = M.l + (v - xr[0]) / (xr[1] - xr[0]) * W; ctx.fillText(fmt(v), x, M.t + H + 16); ctx.beginPath(); ctx.moveTo(x, M.t + H); ctx.lineTo(x, M.t + H + 4); ctx.stroke(); });
    ctx.textAlign = "right";
    ticks(yr[0], yr[1], 6).forEach(function (v) { var y = M.t + H - (v - yr[0]) / (yr[1] - yr[0]) * H; ctx.fillText(fmt(v), M.l - 6, y + 4); ctx.beginPath(); ctx.moveTo(M.l - 4, y); ctx.lineTo(M.l, y); ctx.stroke(); });
    ctx.textAlign = "center"; ctx.fillText(xl, M.l + W / 2, canvas.height - 12);
    ctx.save(); ctx.translate(16, M.t + H / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(yl, 0, 0); ctx.restore();
    plotted = { W: W, H: H, xr: xr, yr: yr };
    return { W: W, H: H, x: function (v) { return M.l + (v - xr[0]) / (xr[1] - xr[0]) * W; }, y: function (v) { return M.t + H - (v - yr[0]) / (yr[1] - yr[0]) * H; } };
  }
  function label(name, units) { return units && units[name] ? name + " [" + units[name] + "]" : name; }
  function colourbar(cr, name) {
    var x = canvas.width - M.r + 20, H = canvas.height - M.t - M.b;
    for (var i = 0; i < H; i++) { ctx.fillStyle = colour(1 - i / H); ctx.fillRect(x, M.t + i, 16, 1); }
    ctx.fillStyle = "#333"; ctx.textAlign = "left"; ctx.fillText(fmt(+cr[1].toPrecision(4)), x + 20, M.t + 8); ctx.fillText(fmt(+cr[0].toPrecision(4)), x + 20, M.t + H);
    // the label runs up beside the bar, so a long name with its unit is never cut at the canvas edge
    ctx.save(); ctx.translate(x - 5, M.t + H / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center"; ctx.fillText(name, 0, 0); ctx.restore();
  }
  function scatter(d, X, Y, C) {
    brushable = { X: X, Y: Y };
    var xs = d.data[X], ys = d.data[Y], cs = C ? d.data[C] : null;
    var a = axes(range(xs), range(ys), label(X, d.units), label(Y, d.units)), cr = cs ? range(cs) : null;
    ctx.globalAlpha = xs.length > 5000 ? 0.5 : 0.8;
    for (var i = 0; i < xs.length; i++) {
      if (xs[i] === null || ys[i] === null) continue;
      ctx.fillStyle = cs ? (cs[i] === null ? "#bbb" : colour((cs[i] - cr[0]) / (cr[1] - cr[0]))) : "#2a5db0";
      ctx.fillRect(a.x(xs[i]) - 1.5, a.y(ys[i]) - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1;
    if (cs) colourbar(cr, label(C, d.units));
  }
  function histogram(d) {
    if (!d.counts.length) { ctx.fillText("No values to count.", 100, 100); return; }
    var max = Math.max.apply(null, d.counts), e = d.edges;
    var a = axes([e[0], e[e.length - 1]], [0, max * 1.05], d.unit ? d.x + " [" + d.unit + "]" : d.x, "count");
    ctx.fillStyle = "#2a5db0"; ctx.strokeStyle = "#fff";
    d.counts.forEach(function (c, i) { var x0 = a.x(e[i]), x1 = a.x(e[i + 1]), y = a.y(c); ctx.fillRect(x0, y, Math.max(1, x1 - x0), a.y(0) - y); ctx.strokeRect(x0, y, Math.max(1, x1 - x0), a.y(0) - y); });
  }
  function aitoff(lon, lat) {  // degrees -> unit plane; RA increases to the left as on the sky
    return aitoffL(-((lon + 180) % 360 + 360) % 360 + 180, lat);
  }
  function aitoffL(l, lat) {  // l: degrees from the centre, in [-180, 180], negative to the left
    var L = l * Math.PI / 180, B = lat * Math.PI / 180;
    var alpha = Math.acos(Math.cos(B) * Math.cos(L / 2)), s = alpha === 0 ? 1 : Math.sin(alpha) / alpha;
    return [2 * Math.cos(B) * Math.sin(L / 2) / s, Math.sin(B) / s];
  }
  function sky(d, X, Y, C) { skyFrame(function (p) { skyPoints(d, X, Y, C, p); }, X + " / " + Y + " (Aitoff, ICRS)"); }
  function skyDensity(d) {  // HEALPix cells counted by the engine, coloured by log(count)
    var logs = d.n.map(function (n) { return Math.log10(n); }), top = Math.max.apply(null, logs.concat([1]));
    var side = d.pixel_deg;
    skyFrame(function (p) {
      ctx.globalAlpha = 0.9;
      for (var i = 0; i < d.n.length; i++) {
        var half = side / 2 / Math.max(0.15, Math.cos(d.dec[i] * Math.PI / 180));
        var a = p(d.ra[i], d.dec[i]), e = p(d.ra[i] + half, d.dec[i]), wst = p(d.ra[i] - half, d.dec[i]), up = p(d.ra[i], d.dec[i] + side / 2);
        // the nearer neighbour: a cell at the map's edge (RA 180) must not stretch across to the other side
        var w = Math.max(2, 2 * Math.min(Math.abs(e[0] - a[0]), Math.abs(wst[0] - a[0]))), h = Math.max(2, 2 * Math.abs(up[1] - a[1]));
        ctx.fillStyle = colour(logs[i] / top);
        ctx.fillRect(a[0] - w / 2, a[1] - h / 2, w, h);
      }
      ctx.globalAlpha = 1;
    }, "HEALPix order " + d.order + " (cells of about " + side.toFixed(1) + "°), Aitoff, ICRS");
    colourbar([0, top], "log10(rows per cell)");
  }
  function density(d, X, Y) {  // a 2-D histogram counted by the engine, coloured by log(count)
    var a = axes([d.x[0], d.x[1]], [d.y[0], d.y[1]], label(X, d.units), label(Y, d.units));
    var logs = d.n.map(function (n) { return Math.log10(n); }), top = Math.max.apply(null, logs.concat([1]));
    var cw = a.W / d.bins, ch = a.H / d.bins;
    for (var k = 0; k < d.n.length; k++) {
      ctx.fillStyle = colour(logs[k] / top);
      ctx.fillRect(M.l + d.i[k] * cw, M.t + a.H - (d.j[k] + 1) * ch, Math.ceil(cw), Math.ceil(ch));
    }
    colourbar([0, top], "log10(rows per cell)");
  }
  function skyFrame(draw, caption) {
    var cx = (canvas.width - M.r + M.l) / 2, cy = canvas.height / 2, sx = (canvas.width - M.l - M.r) / (2 * Math.PI), sy = sx;
    function p(lon, lat) { var q = aitoff(lon, lat); return [cx + q[0] * sx, cy - q[1] * sy]; }
    function pl(l, lat) { var q = aitoffL(l, lat); return [cx + q[0] * sx, cy - q[1] * sy]; }
    function curve(points) { ctx.beginPath(); points.forEach(function (q, i) { if (i) ctx.lineTo(q[0], q[1]); else ctx.moveTo(q[0], q[1]); }); ctx.stroke(); }
    var steps = []; for (var k = -180; k <= 180; k += 3) steps.push(k);
    var lats = []; for (var b = -90; b <= 90; b += 3) lats.push(b);
    ctx.strokeStyle = "#d5d9de"; ctx.lineWidth = 1;
    [-60, -30, 0, 30, 60].forEach(function (lat) { curve(steps.map(function (l) { return pl(l, lat); })); });  // parallels, no wrap
    for (var l = -150; l <= 150; l += 30) curve(lats.map(function (b) { return pl(l, b); }));  // meridians
    ctx.strokeStyle = "#9aa3ad";
    [-180, 180].forEach(function (l) { curve(lats.map(function (b) { return pl(l, b); })); });  // the boundary
    ctx.fillStyle = "#666"; ctx.textAlign = "center";
    [0, 60, 120, 240, 300].forEach(function (lon) { var q = p(lon, 0); ctx.fillText(lon + "°", q[0], q[1] - 4); });
    ctx.textAlign = "right";
    [-60, -30, 30, 60].forEach(function (lat) { var q = pl(-180, lat); ctx.fillText((lat > 0 ? "+" : "") + lat + "°", q[0] - 4, q[1] + 4); });
    ctx.textAlign = "center";
    draw(p);
    ctx.fillStyle = "#333"; ctx.textAlign = "center"; ctx.fillText(caption, cx, canvas.height - 12);
  }
  function skyPoints(d, X, Y, C, p) {
    var xs = d.data[X], ys = d.data[Y], cs = C ? d.data[C] : null, cr = cs ? range(cs) : null;
    ctx.globalAlpha = 0.7;
    for (var i = 0; i < xs.length; i++) {
      if (xs[i] === null || ys[i] === null) continue;
      var q2 = p(xs[i], ys[i]);
      ctx.fillStyle = cs ? (cs[i] === null ? "#bbb" : colour((cs[i] - cr[0]) / (cr[1] - cr[0]))) : "#c0392b";
      ctx.fillRect(q2[0] - 1.5, q2[1] - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1;
    if (cs) colourbar(cr, label(C, d.units));
  }
  var form = document.getElementById("plot-form"), drawing = 0;

  // Select points: drag a box on a scatter plot and the table shows the rows inside it (the viewer's filter,
  // run by the engine on every row, not only the points drawn).
  var plotted = null, brushable = null, start = null;
  function plotPoint(e) {
    var r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  }
  function value(px, py) {
    return [plotted.xr[0] + (px - M.l) / plotted.W * (plotted.xr[1] - plotted.xr[0]),
            plotted.yr[0] + (M.t + plotted.H - py) / plotted.H * (plotted.yr[1] - plotted.yr[0])];
  }
  canvas.addEventListener("mousedown", function (e) { if (brushable && plotted) start = plotPoint(e); });
  canvas.addEventListener("mouseup", function (e) {
    if (!start) return;
    var end = plotPoint(e), from = start, a = value(from[0], from[1]), b = value(end[0], end[1]);
    start = null;
    if (Math.abs(end[0] - from[0]) < 3 || Math.abs(end[1] - from[1]) < 3) return;  // a click, not a box
    ctx.strokeStyle = "#e67e22"; ctx.lineWidth = 2;
    ctx.strokeRect(Math.min(from[0], end[0]), Math.min(from[1], end[1]), Math.abs(end[0] - from[0]), Math.abs(end[1] - from[1]));
    ctx.lineWidth = 1;
    var q = function (v) { return String(+v.toPrecision(8)); };
    document.getElementById("filter-where").value = '"' + brushable.X + '" BETWEEN ' + q(Math.min(a[0], b[0])) + " AND " + q(Math.max(a[0], b[0])) +
      ' AND "' + brushable.Y + '" BETWEEN ' + q(Math.min(a[1], b[1])) + " AND " + q(Math.max(a[1], b[1]));
    filterForm.requestSubmit();
    document.getElementById("result-table").scrollIntoView({ block: "nearest" });
  });
  var SKY = { sky: 1, skydensity: 1 }, saved = null, lastKind = "";
  function kindChanged() {  // only the axes a kind uses are shown; sky kinds take RA/Dec by UCD, not the scatter's X/Y
    var kind = document.getElementById("plot-kind").value, xEl = document.getElementById("plot-x"), yEl = document.getElementById("plot-y");
    var onSky = !!SKY[kind], wasSky = !!SKY[lastKind];
    if (onSky && !wasSky) {
      saved = [xEl.value, yEl.value];
      if (form.dataset.ra) xEl.value = form.dataset.ra;
      if (form.dataset.dec) yEl.value = form.dataset.dec;
    } else if (!onSky && wasSky && saved) { xEl.value = saved[0]; yEl.value = saved[1]; }
    lastKind = kind;
    document.getElementById("plot-y-field").hidden = kind === "histogram";
    document.getElementById("plot-c-field").hidden = kind !== "colour";
    document.querySelector("label[for=plot-x]").textContent = onSky ? "RA" : "X";
    document.querySelector("label[for=plot-y]").textContent = onSky ? "Dec" : "Y";
  }
  form.addEventListener("change", function (e) { if (e.target.id === "plot-kind") kindChanged(); form.requestSubmit(); });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var ticket = ++drawing;  // a slower, older answer must not overwrite a newer plot
    var kind = document.getElementById("plot-kind").value, X = document.getElementById("plot-x").value,
      Y = document.getElementById("plot-y").value, C = document.getElementById("plot-c").value;
    var q = "?x=" + encodeURIComponent(X);
    if (kind === "histogram") q += "&kind=histogram";
    else { q += "&y=" + encodeURIComponent(Y); if (kind === "colour") q += "&c=" + encodeURIComponent(C); if (kind === "skydensity" || kind === "density") q += "&kind=" + kind; }
    note.textContent = "Drawing…";
    fetch(job.dataset.plotUrl + q, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
      if (ticket !== drawing) return;
      clear();
      if (d.error) { note.textContent = d.error; return; }
      brushable = null; plotted = null;
      if (kind === "histogram") histogram(d);
      else if (kind === "skydensity") { skyDensity(d); note.textContent = d.total.toLocaleString("en") + " rows in " + d.n.length.toLocaleString("en") + " HEALPix cells, counted by the database."; canvas.dataset.drawn = kind; return; }
      else if (kind === "density") { density(d, X, Y); note.textContent = d.total.toLocaleString("en") + " rows in " + d.bins + " × " + d.bins + " cells, counted by the database."; canvas.dataset.drawn = kind; return; }
      else if (kind === "sky") sky(d, X, Y, null);
      else scatter(d, X, Y, kind === "colour" ? C : null);
      note.textContent = d.kind === "histogram" ? d.n.toLocaleString("en") + " values in " + d.counts.length + " bins."
        : (d.sampled ? "An evenly spaced sample of " + d.data[X].length.toLocaleString("en") + " of " + d.total.toLocaleString("en") + " rows." : d.data[X].length.toLocaleString("en") + " rows.");
      canvas.dataset.drawn = kind;
    }).catch(function () { note.textContent = "The plot could not be drawn."; });
  });
  kindChanged();
  form.requestSubmit();  // a first plot without asking: RA/Dec or the first numeric columns
})();

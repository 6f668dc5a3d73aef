// Live job status for the job list and the job page: a WebSocket (ws/query/jobs/),
// falling back to polling the job's status URL when the socket is unavailable.
(function () {
  "use strict";
  var jobEl = document.getElementById("job");
  var table = document.getElementById("jobs-table");
  var state = document.getElementById("live-state");
  if (!jobEl && !table) return;
  var FINAL = { COMPLETED: 1, ERROR: 1, ABORTED: 1, ARCHIVED: 1 };

  function showList(s) {
    var row = table.querySelector('tr[data-job="' + s.id + '"]');
    if (!row) { if (state) state.textContent = "New jobs arrived: reload to see them."; return; }
    var badge = row.querySelector('[data-field="phase"]');
    badge.textContent = s.phase;
    badge.className = "badge phase phase-" + s.phase.toLowerCase();
    row.querySelector('[data-field="row_count"]').textContent = s.row_count == null ? "" : Number(s.row_count).toLocaleString("en");
  }

  // Elapsed time while a job runs, counted with the server's clock (server_time) so a skewed client clock does not show.
  var clock = { start: null, offset: 0, timer: null };
  function human(seconds) {
    if (seconds < 60) return Math.floor(seconds) + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min" + (Math.floor(seconds % 60) ? " " + Math.floor(seconds % 60) + " s" : "");
    return Math.floor(seconds / 3600) + " h " + Math.floor(seconds % 3600 / 60) + " min";
  }
  function tick() {
    var el = document.getElementById("job-elapsed");
    if (el && clock.start !== null) el.textContent = human(Math.max(0, (Date.now() + clock.offset - clock.start) / 1000));
  }
  function toggle(cls, on) {
    document.querySelectorAll("." + cls).forEach(function (el) { el.hidden = !on; });
  }
  function showProgress(s) {
    if (s.server_time) clock.offset = Date.parse(s.server_time) - Date.now();
    clock.start = s.start_time ? Date.parse(s.start_time) : null;
    var running = s.phase === "EXECUTING", waiting = s.phase === "QUEUED";
    toggle("when-running", running);
    toggle("when-queued", waiting);
    var position = document.getElementById("job-position");
    if (position && s.queue_position) position.textContent = s.queue_position === 1 ? "next to start" : s.queue_position + " (" + (s.queue_position - 1) + " ahead)";
    var limit = document.getElementById("job-limit");
    if (limit && s.time_limit) limit.textContent = "(time limit " + human(s.time_limit) + ")";
    var size = document.getElementById("job-size");
    if (size) size.textContent = s.size_bytes == null ? "–" : Number(s.size_bytes).toLocaleString("en") + " bytes";
    if (running && !clock.timer) { tick(); clock.timer = setInterval(tick, 1000); }
    if (!running && clock.timer) { clearInterval(clock.timer); clock.timer = null; }
  }

  function showJob(s) {
    if (s.id !== jobEl.dataset.job) return;
    var badge = document.getElementById("job-phase");
    badge.textContent = s.phase;
    badge.className = "badge phase phase-" + s.phase.toLowerCase();
    showProgress(s);
    if (s.error) { var err = document.getElementById("job-error"); err.textContent = s.error; err.hidden = false; }
    if (FINAL[s.phase] && !FINAL[jobEl.dataset.phase]) { window.location.reload(); }  // show the result
  }

  var show = jobEl ? showJob : showList;
  var polling = null;
  function poll() {
    if (!jobEl || polling) return;
    polling = setInterval(function () {
      fetch(jobEl.dataset.statusUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        show(s);
        if (FINAL[s.phase]) clearInterval(polling);
      }).catch(function () {});
    }, 1000);
  }
  if (jobEl && FINAL[jobEl.dataset.phase]) return;
  if (jobEl && jobEl.dataset.status) { try { showProgress(JSON.parse(jobEl.dataset.status)); } catch (e) {} }
  try {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/query/jobs/" +
      (jobEl ? "?job=" + encodeURIComponent(jobEl.dataset.job) : "");
    var ws = new WebSocket(url);
    ws.onmessage = function (e) { show(JSON.parse(e.data)); };
    ws.onopen = function () { if (state) state.textContent = "Status updates live."; };
    ws.onerror = ws.onclose = function () { if (state) state.textContent = ""; poll(); };
  } catch (e) { poll(); }
  if (jobEl) {  // the place in the queue moves with other people's jobs, which are not pushed here
    var slow = setInterval(function () {
      if (polling) { clearInterval(slow); return; }
      fetch(jobEl.dataset.statusUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        show(s);
        if (FINAL[s.phase]) clearInterval(slow);
      }).catch(function () {});
    }, 5000);
  }
  document.addEventListener("submit", function (e) {
    var msg = e.target.dataset && e.target.dataset.confirm;
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
})();

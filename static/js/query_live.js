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

  function showJob(s) {
    if (s.id !== jobEl.dataset.job) return;
    var badge = document.getElementById("job-phase");
    badge.textContent = s.phase;
    badge.className = "badge phase phase-" + s.phase.toLowerCase();
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
  try {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/query/jobs/" +
      (jobEl ? "?job=" + encodeURIComponent(jobEl.dataset.job) : "");
    var ws = new WebSocket(url);
    ws.onmessage = function (e) { show(JSON.parse(e.data)); };
    ws.onopen = function () { if (state) state.textContent = "Status updates live."; };
    ws.onerror = ws.onclose = function () { if (state) state.textContent = ""; poll(); };
  } catch (e) { poll(); }
  document.addEventListener("submit", function (e) {
    var msg = e.target.dataset && e.target.dataset.confirm;
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
})();

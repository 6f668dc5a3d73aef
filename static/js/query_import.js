// The import form: sends the file with a progress bar, then opens the job that stores the table.
// Without this script the form posts as usual.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form) { return; }
  var bar = document.getElementById("import-progress");
  var state = document.getElementById("import-state");
  var error = document.getElementById("import-error");

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
    bar.hidden = true;
    state.textContent = "";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var request = new XMLHttpRequest();
    request.open("POST", window.location.pathname);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.hidden = false;
        bar.value = Math.round(100 * e.loaded / e.total);
        state.textContent = "Sent " + bar.value + "%";
      }
    });
    request.upload.addEventListener("load", function () { state.textContent = "Reading the file…"; });
    request.addEventListener("load", function () {
      var answer = {};
      try { answer = JSON.parse(request.responseText); } catch (e) { answer = {error: "The server answered " + request.status + "."}; }
      if (request.status === 200 && answer.url) {
        state.textContent = "Stored; opening the job…";
        window.location.assign(answer.url);
      } else {
        fail(answer.error || ("The server answered " + request.status + "."));
      }
    });
    request.addEventListener("error", function () { fail("The file could not be sent (network error)."); });
    request.send(new FormData(form));
  });
}());

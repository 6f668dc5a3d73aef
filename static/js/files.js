// Upload with progress: each file is PUT as raw bytes to the JSON API, so the
// server streams it to disk; the session cookie and CSRF header authenticate.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const status = document.getElementById("upload-status");

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function uploadOne(file) {
    return new Promise(function (resolve, reject) {
      const here = form.dataset.here;
      const target = here ? here + "/" + file.name : file.name;
      const line = document.createElement("p");
      const bar = document.createElement("progress");
      bar.max = file.size || 1; bar.value = 0;
      bar.setAttribute("aria-label", "Upload of " + file.name);
      line.textContent = file.name + " ";
      line.appendChild(bar);
      status.appendChild(line);
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", form.dataset.api + "?path=" + encodeURIComponent(target));
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = function (event) { if (event.lengthComputable) bar.value = event.loaded; };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) { bar.value = bar.max; line.append(" done"); resolve(); }
        else {
          let detail = xhr.statusText;
          try { detail = JSON.parse(xhr.responseText).detail; } catch (e) { /* not JSON */ }
          line.append(" failed: " + detail); reject(new Error(detail));
        }
      };
      xhr.onerror = function () { line.append(" failed: connection lost"); reject(new Error("network")); };
      xhr.send(file);
    });
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const files = Array.from(document.getElementById("upload-files").files);
    let failed = false;
    for (const file of files) {
      try { await uploadOne(file); } catch (e) { failed = true; }
    }
    if (!failed) window.location.reload();
  });
})();

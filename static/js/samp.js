/* Send a table to TOPCAT, Aladin or any SAMP client through the SAMP Web Profile (SAMP 1.3, section 5).
 *
 * Any button with data-samp-url (a VOTable URL the receiving client can fetch without our session)
 * and data-samp-name sends "table.load.votable" to every subscribed client: register with the hub
 * (which may ask the user for consent), notifyAll, and unregister a while later. Plain XML-RPC over
 * fetch(); no library.
 * Status messages go to the element with id "samp-status" when there is one.
 */
(function () {
  "use strict";

  var HUB_URL = "http://localhost:21012/";
  var APP_NAME = document.title.split(" · ").pop() || "Data portal";
  // A hub delivers a notification on a thread of its own after notifyAll has answered, and drops it
  // if its sender has unregistered by then (astropy's hub does): so a page stays registered this
  // long after it sent, and leaves at once only when the page itself goes away.
  var LINGER_MS = 30000;
  var lingering = {};  // private key -> timer of its unregistration

  function escapeXml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function encodeValue(value) {
    if (Array.isArray(value)) {
      return "<value><array><data>" + value.map(encodeValue).join("") + "</data></array></value>";
    }
    if (value !== null && typeof value === "object") {
      var members = Object.keys(value).map(function (key) {
        return "<member><name>" + escapeXml(key) + "</name>" + encodeValue(value[key]) + "</member>";
      });
      return "<value><struct>" + members.join("") + "</struct></value>";
    }
    return "<value><string>" + escapeXml(value) + "</string></value>";  // SAMP sends only strings
  }

  function decodeValue(node) {
    var child = node.firstElementChild;
    if (!child) {
      return node.textContent;  // a bare <value>text</value> is a string
    }
    switch (child.localName) {
      case "array":
        return Array.prototype.map.call(child.querySelectorAll(":scope > data > value"), decodeValue);
      case "struct":
        var result = {};
        Array.prototype.forEach.call(child.querySelectorAll(":scope > member"), function (member) {
          result[member.querySelector("name").textContent] = decodeValue(member.querySelector(":scope > value"));
        });
        return result;
      default:
        return child.textContent;
    }
  }

  function call(method, params, keepalive) {
    var body = '<?xml version="1.0"?><methodCall><methodName>' + method + "</methodName><params>" +
      params.map(function (p) { return "<param>" + encodeValue(p) + "</param>"; }).join("") +
      "</params></methodCall>";
    return fetch(HUB_URL, {method: "POST", headers: {"Content-Type": "text/xml"}, body: body, keepalive: Boolean(keepalive)})
      .then(function (response) {
        if (!response.ok) { throw new Error("the SAMP hub answered HTTP " + response.status); }
        return response.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/xml");
        var fault = doc.querySelector("fault");
        if (fault) {
          var info = decodeValue(fault.querySelector("value"));
          throw new Error(info.faultString || "the SAMP hub refused the request");
        }
        return decodeValue(doc.querySelector("params > param > value"));
      });
  }

  function status(message, isError) {
    var element = document.getElementById("samp-status");
    if (element) {
      element.textContent = message;
      element.classList.toggle("error", Boolean(isError));
    }
  }

  function sendTable(url, name) {
    var key = null;
    status("Connecting to your SAMP hub…");
    return call("samp.webhub.register", [{"samp.name": APP_NAME}])
      .catch(function (error) {
        if (error instanceof TypeError) {  // fetch could not reach the hub at all
          throw new Error("No SAMP hub is running: start TOPCAT or Aladin first, then try again.");
        }
        throw error;
      })
      .then(function (registration) {
        key = registration["samp.private-key"];
        return call("samp.webhub.declareMetadata", [key, {"samp.name": APP_NAME,
          "samp.description.text": "Tables from " + window.location.host}]);
      })
      .then(function () {
        return call("samp.webhub.notifyAll", [key, {"samp.mtype": "table.load.votable",
          "samp.params": {"url": url, "name": name, "table-id": url}}]);
      })
      .then(function (recipients) {
        var count = Array.isArray(recipients) ? recipients.length : 0;
        status(count ? "Sent “" + name + "” to " + count + " SAMP client(s)." :
          "The hub is running, but no client (TOPCAT, Aladin) is listening for tables.", !count);
        return count;
      })
      .catch(function (error) {
        status("Could not send the table: " + error.message, true);
        throw error;
      })
      .finally(function () {
        if (key) { lingering[key] = setTimeout(function () { unregister(key, false); }, LINGER_MS); }
      });
  }

  function unregister(key, pageIsLeaving) {
    clearTimeout(lingering[key]);
    delete lingering[key];
    call("samp.webhub.unregister", [key], pageIsLeaving).catch(function () { /* the hub may be gone */ });
  }

  window.addEventListener("pagehide", function () {
    Object.keys(lingering).forEach(function (key) { unregister(key, true); });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-samp-url]");
    if (!button) { return; }
    event.preventDefault();
    button.disabled = true;
    sendTable(button.getAttribute("data-samp-url"), button.getAttribute("data-samp-name") || "table")
      .catch(function () { /* already shown in the status line */ })
      .finally(function () { button.disabled = false; });
  });

  window.portalSamp = {sendTable: sendTable};
})();

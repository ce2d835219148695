// "Add a tip": follow the tip invoice's status (detected server side) and show the outcome.
(function () {
  "use strict";
  var root = document.getElementById("tip");
  if (!root) return;
  var POLL_MS = 2000;
  // "failed" is the forwarding needing an operator: the customer's payment was received all the same.
  var PAID = ["paid", "processing", "completed", "failed"];
  var ENDED = ["expired", "cancelled"];

  function show(status) {
    root.setAttribute("data-state", status);
    document.getElementById("tip-pending").hidden = status !== "pending";
    document.getElementById("tip-paid").hidden = PAID.indexOf(status) < 0;
    document.getElementById("tip-ended").hidden = ENDED.indexOf(status) < 0;
  }

  function poll() {
    fetch(root.getAttribute("data-status-url"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (body && body.status) show(body.status);
        if (!body || body.status === "pending") window.setTimeout(poll, POLL_MS);
      })
      .catch(function () { window.setTimeout(poll, POLL_MS * 2); });
  }

  if (root.getAttribute("data-state") === "pending") window.setTimeout(poll, POLL_MS);
})();

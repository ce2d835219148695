// The web POS: keypad → invoice (server renders the QR as SVG) → live status from the invoice's event
// stream (Server-Sent Events); polling the status API only when the stream fails.
// Payment is only ever detected server side; this page just asks and shows the answer.
(function () {
  "use strict";
  var root = document.getElementById("pos");
  if (!root) return;
  var $ = function (id) { return document.getElementById(id); };
  var POLL_MS = 1500;
  var PAID = ["paid", "processing", "completed"];
  var ENDED = ["expired", "cancelled"];
  var state = { unit: "sats", digits: "", tip: "", invoice: null, pollTimer: null, clockTimer: null, audio: null, receiptUrl: null, stream: null };

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function setPhase(phase) {
    root.setAttribute("data-state", phase);
    $("pos-entry").hidden = phase !== "entry";
    $("pos-invoice").hidden = phase !== "invoice";
    $("pos-success").hidden = phase !== "paid";
    $("pos-expired").hidden = phase !== "expired";
  }

  function renderAmount() {
    var text = state.digits || "0";
    $("amount").textContent = text + (state.unit === "sats" ? " sats" : " " + root.getAttribute("data-currency"));
    $("key-dot").disabled = state.unit === "sats";
  }

  function press(key) {
    if (key === "back") { state.digits = state.digits.slice(0, -1); }
    else if (key === ".") { if (state.unit === "display" && state.digits.indexOf(".") < 0) state.digits = (state.digits || "0") + "."; }
    else {
      var dot = state.digits.indexOf(".");
      if (dot >= 0 && state.digits.length - dot > 2) return;  // two decimals at most
      if (state.digits.replace(".", "").length >= 10) return;
      state.digits = state.digits === "0" ? key : state.digits + key;
    }
    renderAmount();
  }

  function showError(message, fields) {
    var parts = [message];
    if (fields) Object.keys(fields).forEach(function (name) { parts.push(name + ": " + fields[name].join(" ")); });
    $("pos-error").textContent = parts.join(" — ");
    $("pos-error").hidden = false;
  }

  function unlockAudio() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx && !state.audio) state.audio = new Ctx();
    } catch (e) { state.audio = null; }
  }

  function beep() {
    var ctx = state.audio;
    if (!ctx) return;
    try {
      [[880, 0], [1320, 0.16]].forEach(function (tone) {
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.frequency.value = tone[0];
        gain.gain.setValueAtTime(0.18, ctx.currentTime + tone[1]);
        gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + tone[1] + 0.15);
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(ctx.currentTime + tone[1]); osc.stop(ctx.currentTime + tone[1] + 0.16);
      });
    } catch (e) { /* sound is a nicety */ }
  }

  function charge() {
    $("pos-error").hidden = true;
    unlockAudio();
    var body = new URLSearchParams();
    body.set("unit", state.unit);
    body.set("amount", state.digits || "0");
    var custom = $("tip-custom").value;
    body.set("tip_percent", custom !== "" ? custom : state.tip);
    var recipient = $("recipient").value;
    if (recipient.indexOf("staff:") === 0) body.set("staff", recipient.slice(6));
    if (recipient.indexOf("profile:") === 0) body.set("split_profile", recipient.slice(8));
    body.set("memo", $("memo").value);
    $("charge").disabled = true;
    fetch(root.getAttribute("data-create-url"), {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    }).then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
      .then(function (res) {
        $("charge").disabled = false;
        if (!res.ok) { var e = res.data.error || {}; showError(e.message || "Could not create the invoice.", e.fields); return; }
        showInvoice(res.data);
      })
      .catch(function () { $("charge").disabled = false; showError("Network error; try again."); });
  }

  function showInvoice(inv) {
    state.invoice = inv;
    root.setAttribute("data-payment-hash", inv.paymentHash);
    $("qr").src = inv.qrUrl;
    $("inv-total").textContent = inv.totalAmount.toLocaleString();
    $("inv-breakdown").textContent = inv.tipAmount ? "(" + inv.baseAmount + " + " + inv.tipAmount + " tip)" : "";
    $("bolt11").value = inv.paymentRequest;
    $("status").textContent = "Waiting for payment…";
    $("copy").textContent = "Copy";
    setPhase("invoice");
    tick();
    state.clockTimer = setInterval(tick, 1000);
    follow();
  }

  function tick() {
    if (!state.invoice) return;
    var left = Math.max(0, Math.floor((new Date(state.invoice.expiresAt) - new Date()) / 1000));
    var m = Math.floor(left / 60), s = left % 60;
    $("countdown").textContent = (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function statusOf(data) {
    if (!data) return "";
    if (typeof data.status === "string") return data.status;
    if (data.invoice && typeof data.invoice.status === "string") return data.invoice.status;
    return "";
  }

  // The stream pushes every status change as it is committed; EventSource reconnects by itself (with
  // Last-Event-ID) after a short break. Polling takes over only when the stream cannot work at all:
  // no EventSource, or the server refused it (the browser then gives up: readyState CLOSED).
  function follow() {
    var inv = state.invoice;
    if (!inv.eventsUrl || typeof window.EventSource !== "function") { root.setAttribute("data-live", "polling"); return poll(); }
    var hash = inv.paymentHash;
    var stream = new EventSource(inv.eventsUrl);
    state.stream = stream;
    root.setAttribute("data-live", "stream");
    var onStatus = function (e) {
      if (!state.invoice || state.invoice.paymentHash !== hash) return;
      var data = null;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      var status = statusOf(data);
      if (PAID.indexOf(status) >= 0) { return paid(data); }
      if (ENDED.indexOf(status) >= 0) { stopTimers(); setPhase("expired"); }
    };
    ["status", "paid", "processing", "completed", "expired", "cancelled", "failed"].forEach(function (name) {
      stream.addEventListener(name, onStatus);
    });
    stream.onerror = function () {
      if (stream.readyState !== EventSource.CLOSED || state.stream !== stream) return;
      state.stream = null;
      if (!state.invoice || state.invoice.paymentHash !== hash) return;
      root.setAttribute("data-live", "polling");
      poll();
    };
  }

  function poll() {
    if (!state.invoice) return;
    var hash = state.invoice.paymentHash;
    fetch(state.invoice.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!state.invoice || state.invoice.paymentHash !== hash) return;
        var status = statusOf(data);
        if (PAID.indexOf(status) >= 0) { return paid(data); }
        if (ENDED.indexOf(status) >= 0) { stopTimers(); setPhase("expired"); return; }
        state.pollTimer = setTimeout(poll, POLL_MS);
      })
      .catch(function () { state.pollTimer = setTimeout(poll, POLL_MS * 2); });
  }

  function paid(data) {
    stopTimers();
    $("success-amount").textContent = state.invoice.totalAmount.toLocaleString() + " sats received";
    $("success-link").href = state.invoice.detailUrl;
    showReceipt(data && data.receipt_url);
    setPhase("paid");
    beep();
  }

  // The receipt link arrives with the paid status (receipt_url): its QR for the customer, and printing.
  function showReceipt(url) {
    state.receiptUrl = url || null;
    $("receipt-box").hidden = !url;
    if (!url) return;
    $("receipt-qr").src = url + "qr.svg";
    $("receipt-link").href = url;
  }

  function printReceipt() {
    if (state.receiptUrl) window.open(state.receiptUrl + "?paper=80&print=1", "_blank", "noopener");
  }

  function stopTimers() {
    if (state.stream) { state.stream.close(); state.stream = null; }
    clearTimeout(state.pollTimer); clearInterval(state.clockTimer);
    state.pollTimer = null; state.clockTimer = null;
  }

  function newSale() {
    stopTimers();
    state.invoice = null; state.digits = ""; showReceipt(null);
    root.removeAttribute("data-payment-hash");
    $("memo").value = ""; $("tip-custom").value = "";
    renderAmount();
    setPhase("entry");
  }

  function cancel() {
    var inv = state.invoice;
    if (!inv) return newSale();
    fetch(inv.cancelUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } })
      .finally(newSale);
  }

  function copy() {
    var input = $("bolt11");
    input.select();
    var done = function () { $("copy").textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else { document.execCommand("copy"); done(); }
  }

  root.querySelectorAll(".key").forEach(function (b) { b.addEventListener("click", function () { press(b.getAttribute("data-key")); }); });
  root.querySelectorAll(".seg").forEach(function (b) {
    b.addEventListener("click", function () {
      root.querySelectorAll(".seg").forEach(function (o) { o.classList.toggle("active", o === b); });
      state.unit = b.getAttribute("data-unit"); state.digits = ""; renderAmount();
    });
  });
  root.querySelectorAll(".chip").forEach(function (b) {
    b.addEventListener("click", function () {
      root.querySelectorAll(".chip").forEach(function (o) { o.classList.toggle("active", o === b); });
      state.tip = b.getAttribute("data-tip"); $("tip-custom").value = "";
    });
  });
  $("tip-custom").addEventListener("input", function () {
    root.querySelectorAll(".chip").forEach(function (o) { o.classList.remove("active"); });
  });
  $("charge").addEventListener("click", charge);
  $("copy").addEventListener("click", copy);
  $("cancel").addEventListener("click", cancel);
  $("new-sale").addEventListener("click", newSale);
  $("print-receipt").addEventListener("click", printReceipt);
  $("new-sale-2").addEventListener("click", newSale);
  renderAmount();
  setPhase("entry");
})();

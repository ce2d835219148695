// The staff sign-in link carries its one-time token after "#": browsers never send that part to the
// server, so the token stays out of access logs and Referer headers. This fills the form's token field
// from it and removes it from the address bar; the person then presses "Sign in" (a POST spends it).
(function () {
  "use strict";
  var field = document.getElementById("staff-link-token");
  var token = window.location.hash.replace(/^#/, "");
  if (!field || !token) return;
  field.value = decodeURIComponent(token);
  history.replaceState(null, "", window.location.pathname);
})();

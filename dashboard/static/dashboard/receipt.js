// The receipt page's print button, and printing on open when the link asked for it (?print=1).
(function () {
  "use strict";
  var button = document.getElementById("print-receipt");
  if (button) button.addEventListener("click", function () { window.print(); });
  var receipt = document.getElementById("receipt");
  if (receipt && receipt.getAttribute("data-autoprint") === "1") {
    window.addEventListener("load", function () { window.print(); });
  }
})();

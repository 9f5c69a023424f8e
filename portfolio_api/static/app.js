// eduledger: the little JavaScript the pages use (no framework, no CDN).
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button.copy");
    if (!b) return;
    var input = b.parentElement.querySelector(b.dataset.copy);
    if (input) { input.select(); if (navigator.clipboard) navigator.clipboard.writeText(input.value); }
  });
  // Drag and drop a file on the verify form: put it in the file input and submit.
  var zone = document.querySelector(".dropzone");
  if (zone) {
    var input = zone.querySelector("input[type=file]");
    ["dragenter", "dragover"].forEach(function (ev) { zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (ev) { zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.remove("over"); }); });
    zone.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; zone.submit(); }
    });
  }
  // Batch issuance: reload the progress page until the batch is finished.
  var batch = document.getElementById("batch");
  if (batch && batch.dataset.refresh) { setTimeout(function () { location.reload(); }, 700); }
  // Forms submit once: a second click while the first submission is in flight does nothing.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (f.dataset.sent) { e.preventDefault(); return; }
    f.dataset.sent = "1";
    setTimeout(function () { delete f.dataset.sent; }, 5000);
  });
})();

// The dynamic QR (亮证): count down to its expiry; when it expires, dim it and say so.
// The server gives the seconds left (data-seconds), so the phone's own clock does not matter.
(function () {
  "use strict";
  var box = document.getElementById("qr-show");
  if (!box) { return; }
  var left = parseInt(box.getAttribute("data-seconds"), 10) || 0;
  var shown = document.getElementById("qr-remaining");
  var expired = document.getElementById("qr-expired");
  var image = document.getElementById("qr-image");
  var full = document.getElementById("qr-fullscreen");
  var start = Date.now();

  function text(seconds) {
    var s = seconds % 60;
    return Math.floor(seconds / 60) + ":" + (s < 10 ? "0" : "") + s;
  }

  function tick() {
    var remaining = Math.max(0, left - Math.floor((Date.now() - start) / 1000));
    shown.textContent = text(remaining);
    if (remaining === 0) {
      box.classList.add("expired");
      image.setAttribute("aria-hidden", "true");
      expired.hidden = false;
      return;
    }
    window.setTimeout(tick, 1000);
  }

  if (full && box.requestFullscreen) {
    full.hidden = false;
    full.addEventListener("click", function () {
      if (document.fullscreenElement) {
        document.exitFullscreen();
      } else {
        box.requestFullscreen().catch(function () { /* the browser refused: stay as is */ });
      }
    });
  }
  tick();
})();

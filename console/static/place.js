// Placing a seal by clicking on the preview: the click becomes page/x/y (PDF points,
// origin bottom-left) in the "move the seal" form, centred on the click; the person then
// presses "update preview". The form works the same without JavaScript.
(function () {
  "use strict";
  var image = document.getElementById("preview");
  var form = document.getElementById("placement-form");
  if (!image || !form) { return; }
  image.classList.add("clickable");
  image.addEventListener("click", function (event) {
    var rect = image.getBoundingClientRect();
    var width = parseFloat(image.getAttribute("data-width"));
    var height = parseFloat(image.getAttribute("data-height"));
    var x1 = parseFloat(image.getAttribute("data-x1"));
    var y1 = parseFloat(image.getAttribute("data-y1"));
    var scale = rect.width / width;
    var size = parseFloat(form.elements.size.value) || 120;
    var x = x1 + (event.clientX - rect.left) / scale - size / 2;
    var y = y1 + height - (event.clientY - rect.top) / scale - size / 2;
    x = Math.max(x1, Math.min(x, x1 + width - size));
    y = Math.max(y1, Math.min(y, y1 + height - size));
    form.elements.page.value = image.getAttribute("data-page");
    form.elements.x.value = Math.round(x);
    form.elements.y.value = Math.round(y);
    form.querySelector("input[name=mode][value=position]").checked = true;
    var details = form.closest("details");
    if (details) { details.open = true; }
    form.querySelector("button[type=submit]").focus();
  });
})();

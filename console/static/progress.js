// A batch job's progress: ask the server every second, move the bar, reload when finished.
// Without JavaScript the page offers a link that reloads it.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || box.getAttribute("data-finished") === "true") { return; }
  var url = box.getAttribute("data-progress");
  var bar = document.getElementById("job-progress");
  var count = document.getElementById("job-count");
  var template = count.getAttribute("data-template") || "{done} / {total}";

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) { return; }
        bar.value = state.done;
        bar.max = state.total;
        count.textContent = template.replace("{done}", state.done).replace("{total}", state.total);
        if (state.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();

// The Add funds page: amount presets, and refreshing the deposit history while a deposit is unsettled.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("id_amount");
    document.querySelectorAll(".preset").forEach(function (button) {
      button.addEventListener("click", function () {
        if (input) { input.value = button.dataset.amount; input.focus(); }
      });
    });

    var box = document.getElementById("deposit-history");
    if (!box) { return; }
    var delay = 4000;
    function unsettled() {
      var marker = box.querySelector("[data-unsettled]");
      return marker && marker.dataset.unsettled === "1";
    }
    function refresh() {
      if (!unsettled() || document.hidden) { return schedule(); }
      fetch(box.dataset.url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) { box.innerHTML = html; delay = 4000; })
        .catch(function () { delay = Math.min(delay * 2, 60000); })
        .finally(schedule);
    }
    function schedule() { window.setTimeout(refresh, delay); }
    schedule();
  });
})();

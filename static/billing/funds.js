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
        .then(function (html) { box.innerHTML = html; showBalance(); delay = 4000; })
        .catch(function () { delay = Math.min(delay * 2, 60000); })
        .finally(schedule);
    }
    // The fragment carries the balance too, so a credit shows in the balance card at the same moment.
    function showBalance() {
      var live = box.querySelector("[data-live-balance]");
      if (!live) { return; }
      var balance = document.querySelector("[data-live=balance]");
      var available = document.querySelector("[data-live=available]");
      if (balance) {
        balance.textContent = live.dataset.liveBalance;
        balance.classList.toggle("negative", live.dataset.liveBalance.charAt(0) === "-");
      }
      if (available) { available.textContent = live.dataset.liveAvailable; }
    }
    function schedule() { window.setTimeout(refresh, delay); }
    schedule();
  });
})();

// USDC deposit panel: copy buttons, and the history refreshed without a reload (every 5 s while a
// deposit is still confirming, every 30 s otherwise; paused while the tab is hidden).
(function () {
  "use strict";
  var panel = document.querySelector(".chain-deposits");
  if (!panel) return;

  panel.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.dataset.copy).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  var box = document.getElementById("chain-deposit-history");
  if (!box) return;  // the page shows a combined history of its own
  var url = panel.dataset.historyUrl;
  function pending() {
    var rows = box.querySelector(".chain-rows");
    return rows && rows.dataset.pending === "true";
  }
  function schedule() { setTimeout(refresh, pending() ? 5000 : 30000); }
  function refresh() {
    if (document.hidden) return schedule();
    fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html.trim() !== box.innerHTML.trim()) box.innerHTML = html;
      })
      .catch(function () {})
      .then(schedule);
  }
  schedule();
})();

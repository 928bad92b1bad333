// Live refresh: every 10 s, while the tab is visible, the page is fetched
// again and each element marked data-live is replaced by its new version.
// Everything else on the page works without this script.
(function () {
  "use strict";
  var PERIOD_MS = 10000;
  function refresh() {
    if (document.hidden || !document.querySelector("[data-live]")) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Live": "1" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (!text) {
          return;
        }
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (old) {
          var replacement = old.id && fresh.getElementById(old.id);
          if (replacement) {
            old.replaceWith(document.importNode(replacement, true));
          }
        });
        var stamp = document.getElementById("refreshed");
        if (stamp) {
          stamp.textContent = "updated " + new Date().toLocaleTimeString();
        }
      })
      .catch(function () {});
  }
  window.setInterval(refresh, PERIOD_MS);
})();

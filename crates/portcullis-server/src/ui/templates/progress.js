// Live copy progress on a promotion's page: polls /ui/promotions/{id}/progress while the
// promotion is promoting, and reloads the page once it is not. Without script, the page
// refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var section = document.getElementById("copy");
  if (!section || section.dataset.state !== "promoting") {
    return;
  }
  var url = section.dataset.progressUrl;
  var bar = document.getElementById("copy-progress");
  var text = document.getElementById("copy-text");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.json();
      })
      .then(function (p) {
        if (p.state !== "promoting") {
          window.location.reload();
          return;
        }
        if (p.text) {
          text.textContent = p.text;
        }
        bar.value = p.percent;
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }
  window.setTimeout(poll, 1000);
})();

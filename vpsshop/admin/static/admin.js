// Event wiring for the admin pages. The strict CSP forbids inline handlers
// (onclick=...), so Flask-Admin's inline ones are replaced by these listeners.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
  document.addEventListener("click", function (event) {
    // "Add filter" entries only open a filter row (Flask-Admin's filters.js does that).
    if (event.target.closest && event.target.closest("a.filter")) {
      event.preventDefault();
      return;
    }
    // Flask-Admin's toggles ("List", dropdowns, column tips) link to javascript:void(0);
    // following one is a script URL, which the CSP blocks (a console error per click).
    var scriptLink = event.target.closest && event.target.closest('a[href^="javascript:"]');
    if (scriptLink) {
      event.preventDefault();
    }
    var link = event.target.closest && event.target.closest("a.vps-bulk-action");
    if (!link) {
      return;
    }
    event.preventDefault();
    if (window.modelActions) {
      window.modelActions.execute(link.getAttribute("data-action"));
    }
  });
})();

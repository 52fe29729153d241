/* A session's time on the page: countdowns to a server's end, the warning of its last
 * minutes, "~14 minutes" until a waitlist's next slot, and the tab title (ready, about to
 * end, ended). Every element was rendered by the server with the right text already; this
 * only keeps it current. Status cards swapped in by live.js are picked up on the next tick. */
(function () {
  "use strict";

  var TICK_MS = 1000;
  var baseTitle = document.title;

  function pad(number) { return (number < 10 ? "0" : "") + number; }

  function leftText(seconds) {
    if (seconds <= 0) { return "ending now"; }
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = Math.floor(seconds % 60);
    if (hours) { return hours + " h " + pad(minutes) + " min"; }
    if (minutes) { return minutes + " min " + pad(secs) + " s"; }
    return secs + " s";
  }

  function aboutText(seconds) {
    if (seconds <= 30) { return "any moment now"; }
    // Nearest minute, as the server said it (vpsshop/wording.py human_duration).
    var minutes = Math.max(1, Math.round(seconds / 60));
    if (minutes < 60) { return "~" + minutes + (minutes === 1 ? " minute" : " minutes"); }
    var hours = Math.floor(minutes / 60);
    var rest = minutes % 60;
    return "~" + hours + (hours === 1 ? " hour" : " hours") + (rest ? " " + rest + " min" : "");
  }

  function secondsUntil(node, attribute) {
    var target = Date.parse(node.getAttribute(attribute));
    return isNaN(target) ? null : (target - Date.now()) / 1000;
  }

  function each(selector, callback) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), callback);
  }

  function setText(node, text) {
    if (node.textContent !== text) { node.textContent = text; }
  }

  function updateTitle() {
    var live = document.querySelector("[data-live-session]");
    var card = document.getElementById("session-status");
    if (!live || !card) { return; }
    var name = live.getAttribute("data-title-name") || "";
    var status = card.getAttribute("data-status");
    var title = baseTitle;
    var warning = card.querySelector("[data-ending-soon]");
    if (status === "ready" && warning && !warning.hidden) {
      var left = secondsUntil(warning, "data-ending-at");
      title = "Ending in " + leftText(left) + " · " + name + " · vpsshop";
    } else if (status === "ready") {
      title = "Ready · " + name + " · vpsshop";
    } else if (card.getAttribute("data-final") === "1") {
      title = "Ended · " + name + " · vpsshop";
    }
    if (document.title !== title) { document.title = title; }
  }

  function tick() {
    each("[data-countdown-to]", function (node) {
      var left = secondsUntil(node, "data-countdown-to");
      if (left !== null) { setText(node, leftText(left)); }
    });
    each("[data-ending-soon]", function (node) {
      var left = secondsUntil(node, "data-ending-at");
      var within = Number(node.getAttribute("data-ending-soon-seconds"));
      if (left !== null) { node.hidden = !(left <= within); }
    });
    each("[data-eta-to]", function (node) {
      var left = secondsUntil(node, "data-eta-to");
      if (left !== null) { setText(node, aboutText(left)); }
    });
    updateTitle();
  }

  function start() {
    tick();
    window.setInterval(tick, TICK_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

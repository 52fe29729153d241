/* Moments in the reader's local time: every <time data-local-time> the server rendered in
 * UTC (vpsshop/wording.py time_tag) shows local time; its tooltip keeps the UTC text.
 * Cards swapped in later (live status) are localised as they arrive. */
(function () {
  "use strict";

  function pad(number) { return (number < 10 ? "0" : "") + number; }

  function localText(date, style) {
    var time = pad(date.getHours()) + ":" + pad(date.getMinutes());
    if (style === "time") { return time; }
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      " " + time + ":" + pad(date.getSeconds());
  }

  function localise(root) {
    if (!root.querySelectorAll) { return; }
    var nodes = root.matches && root.matches("time[data-local-time]") ? [root] : [];
    nodes = nodes.concat(Array.prototype.slice.call(root.querySelectorAll("time[data-local-time]")));
    nodes.forEach(function (node) {
      if (node.getAttribute("data-localised") === "1") { return; }
      var date = new Date(node.getAttribute("datetime"));
      if (isNaN(date.getTime())) { return; }
      node.textContent = localText(date, node.getAttribute("data-local-time"));
      node.setAttribute("data-localised", "1");
    });
  }

  function start() {
    localise(document);
    new MutationObserver(function (changes) {
      changes.forEach(function (change) {
        Array.prototype.forEach.call(change.addedNodes, localise);
      });
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

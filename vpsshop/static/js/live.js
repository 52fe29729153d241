/* vpsshop's own script: live session status and log, copy buttons, one-click forms.
 * Everything here enhances pages that already work without JavaScript. Log text is only
 * ever assigned with textContent, never parsed as HTML into the page. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var MAX_POLLS = 3600; // two hours of polling at most per page view
  var LOG_STATUSES = { pending: true, provisioning: true };

  // The last ETag of each polled URL: the server answers 304 with no body while the
  // card or the log is unchanged, and then the page keeps what it shows.
  var etags = {};

  function fetchDocument(url) {
    var headers = { Accept: "text/html" };
    if (etags[url]) { headers["If-None-Match"] = etags[url]; }
    return fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: headers,
      redirect: "error"
    }).then(function (response) {
      if (response.status === 304) { return null; }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      var etag = response.headers.get("ETag");
      if (etag) { etags[url] = etag; } else { delete etags[url]; }
      return response.text().then(function (text) {
        // DOMParser never runs scripts; the server rendered (and escaped) this partial.
        return new DOMParser().parseFromString(text, "text/html");
      });
    });
  }

  function formatDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    if (hours) { return hours + " h " + minutes + " min"; }
    if (minutes) { return minutes + " min " + secs + " s"; }
    return secs + " s";
  }

  function tickElapsed() {
    var nodes = document.querySelectorAll("[data-elapsed-since]");
    Array.prototype.forEach.call(nodes, function (node) {
      var since = Date.parse(node.getAttribute("data-elapsed-since"));
      if (!isNaN(since)) {
        node.textContent = formatDuration((Date.now() - since) / 1000);
      }
    });
  }

  function showCopyButtons(root) {
    if (!navigator.clipboard) { return; }
    Array.prototype.forEach.call(root.querySelectorAll("button.copy"), function (button) {
      button.hidden = false;
    });
  }

  function updateLog(doc) {
    if (!doc) { return; }
    var incomingText = doc.getElementById("log-text");
    var incomingNotice = doc.getElementById("log-notice");
    var box = document.getElementById("session-log");
    var text = document.getElementById("log-text");
    var notice = document.getElementById("log-notice");
    if (!incomingText || !text) { return; }
    var nearBottom = text.scrollHeight - text.scrollTop - text.clientHeight < 40;
    if (text.textContent !== incomingText.textContent) {
      text.textContent = incomingText.textContent;
      if (nearBottom) { text.scrollTop = text.scrollHeight; }
    }
    if (notice && incomingNotice) { notice.textContent = incomingNotice.textContent; }
    var incomingBox = doc.getElementById("session-log");
    if (box && incomingBox) { box.setAttribute("data-state", incomingBox.getAttribute("data-state")); }
  }

  function updateBalance(card) {
    // A refund changed the balance: the card carries it, the header shows it.
    var balance = card.getAttribute("data-balance");
    var header = document.querySelector("[data-testid=balance]");
    if (balance && header) { header.textContent = balance; }
  }

  function clearFlashes() {
    // A flash ("Paid 25 coins. Your server is being created.") is about the step the page
    // was opened at; once the server is ready or ended it says something no longer true.
    Array.prototype.forEach.call(document.querySelectorAll(".flashes"), function (node) {
      node.remove();
    });
  }

  function startLive(root) {
    var statusUrl = root.getAttribute("data-status-url");
    var logUrl = root.getAttribute("data-log-url");
    var polls = 0;
    var logText = document.getElementById("log-text");
    if (logText) { logText.scrollTop = logText.scrollHeight; }

    function currentStatus() {
      return document.getElementById("session-status");
    }

    function refreshLog() {
      if (!logUrl) { return Promise.resolve(); }
      return fetchDocument(logUrl).then(updateLog, function () { /* next poll retries */ });
    }

    function poll() {
      var card = currentStatus();
      if (!card || card.getAttribute("data-final") === "1" || polls >= MAX_POLLS) { return; }
      polls += 1;
      fetchDocument(statusUrl).then(function (doc) {
        if (!doc) {  // unchanged; a booting server's log still grows
          var same = currentStatus();
          return same && LOG_STATUSES[same.getAttribute("data-status")] ? refreshLog() : null;
        }
        var incoming = doc.getElementById("session-status");
        var before = currentStatus();
        if (!incoming || !before) { return; }
        var oldStatus = before.getAttribute("data-status");
        var newStatus = incoming.getAttribute("data-status");
        if (incoming.getAttribute("data-version") !== before.getAttribute("data-version")) {
          // Swapped only on a change, so an open password or a selection is not reset.
          var adopted = document.importNode(incoming, true);
          before.replaceWith(adopted);
          showCopyButtons(adopted);
          updateBalance(adopted);
        }
        if (oldStatus !== newStatus && !LOG_STATUSES[newStatus]) {
          clearFlashes(); // ready, stopping or ended: the server is no longer being created
        }
        // The log grows while the server is created; once more when that phase ends.
        if (LOG_STATUSES[newStatus] || oldStatus !== newStatus) {
          return refreshLog();
        }
      }).catch(function () {
        /* A failed poll is retried on the next tick. */
      }).then(function () {
        var card = currentStatus();
        if (card && card.getAttribute("data-final") !== "1") {
          window.setTimeout(poll, POLL_MS);
        }
      });
    }

    window.setTimeout(poll, POLL_MS);
    window.setInterval(tickElapsed, 1000);
  }

  function startLivePartial(root) {
    // A polled card (a payment's status): swapped when its version changes, until final.
    var url = root.getAttribute("data-url");
    var targetId = root.getAttribute("data-target");
    var polls = 0;

    function poll() {
      var card = document.getElementById(targetId);
      if (!card || card.getAttribute("data-final") === "1" || polls >= MAX_POLLS) { return; }
      polls += 1;
      fetchDocument(url).then(function (doc) {
        var incoming = doc && doc.getElementById(targetId);
        var before = document.getElementById(targetId);
        if (incoming && before &&
            incoming.getAttribute("data-version") !== before.getAttribute("data-version")) {
          var adopted = document.importNode(incoming, true);
          before.replaceWith(adopted);
          updateBalance(adopted);
        }
      }, function () { /* the next poll retries */ }).then(function () {
        window.setTimeout(poll, POLL_MS);
      });
    }

    window.setTimeout(poll, POLL_MS);
  }

  function onCopyClick(event) {
    var button = event.target.closest("button.copy");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    var label = button.textContent;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    }, function () {
      button.textContent = "Copy failed";
    }).then(function () {
      window.setTimeout(function () { button.textContent = label; }, 1500);
    });
  }

  function onSubmitOnce(event) {
    // A second click on a pay button does nothing; the server's one-time key is the real
    // guard, this just keeps the page calm.
    var form = event.target;
    if (!form.hasAttribute("data-once")) { return; }
    if (form.getAttribute("data-submitted") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitted", "1");
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".js-hide"), function (node) {
      node.hidden = true;
    });
    showCopyButtons(document);
    document.addEventListener("click", onCopyClick);
    document.addEventListener("submit", onSubmitOnce);
    var root = document.querySelector("[data-live-session]");
    if (root) { startLive(root); }
    Array.prototype.forEach.call(document.querySelectorAll("[data-live-partial]"), startLivePartial);
  });
})();

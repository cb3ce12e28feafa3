/* Progressive enhancement only: every page works without this file.
   - An error summary takes the focus, so a screen reader hears it first.
   - A region with data-live="URL" follows that URL's server-sent events: each "snapshot"
     event is the region's new content (rendered by the server, the same template as the
     page), so numbers move without a reload. EventSource reconnects by itself, and the
     server sends the current state on every connection. */
(function () {
  "use strict";
  var summary = document.querySelector("[data-focus]");
  if (summary) { summary.focus(); }

  if (!("EventSource" in window)) { return; }
  var regions = document.querySelectorAll("[data-live]");
  Array.prototype.forEach.call(regions, function (region) {
    var status = document.getElementById("live-status");
    var source = new EventSource(region.getAttribute("data-live"));
    var first = true;
    source.addEventListener("snapshot", function (event) {
      region.innerHTML = event.data;
      if (status && !first) {
        var now = new Date();
        status.textContent = "Numbers updated at " + now.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"}) + ".";
      }
      first = false;
    });
  });
})();

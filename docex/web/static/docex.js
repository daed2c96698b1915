/* docex web UI: the little the pages need beyond htmx. No inline script anywhere (CSP). */
(function () {
  "use strict";
  // An upload's progress: <progress data-progress-for="FORM_ID"> follows htmx's XHR events.
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest("form");
    if (!form || !form.id) return;
    var bar = document.querySelector('progress[data-progress-for="' + form.id + '"]');
    if (bar && event.detail.lengthComputable) {
      bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
    }
  });
  // A <button data-confirm="..."> asks first.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });
})();
/* compose: a refused upload says so in its form's live region (htmx swaps no 4xx page). */
(function () {
  "use strict";
  document.addEventListener("htmx:responseError", function (event) {
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("[data-error-region]");
    if (!form) return;
    var region = document.getElementById(form.getAttribute("data-error-region"));
    if (region) region.textContent = form.getAttribute("data-error-text") + " (" + event.detail.xhr.status + ")";
  });
})();
/* outbox: a polled region ([data-poll-pauses-on-focus]) is not refreshed while the keyboard's
   focus is inside it (a refresh would take the focus away), nor when the answer carries the
   version it shows already (a screen reader would read the unchanged table again). */
(function () {
  "use strict";
  function polled(elt) {
    return elt && elt.hasAttribute && elt.hasAttribute("data-poll-pauses-on-focus");
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var region = event.detail.elt;
    if (polled(region) && region.contains(document.activeElement)) event.preventDefault();
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var region = event.detail.target;
    if (!polled(region)) return;
    var shown = region.querySelector("[data-version]");
    var found = /data-version="([0-9a-f]+)"/.exec(event.detail.serverResponse || "");
    if (shown && found && shown.getAttribute("data-version") === found[1]) {
      event.detail.shouldSwap = false;
    }
  });
})();

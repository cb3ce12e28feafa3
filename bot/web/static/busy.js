/* A form with data-busy="Words" says so while the server works (an import of thousands of
   rows takes seconds): its button shows the words and is not pressed twice. Progressive
   enhancement: without this file the form works the same (and a second press is harmless:
   the server imports a file once). */
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-busy]");
  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      var status = form.querySelector("[data-busy-status]");
      if (button) {
        button.textContent = form.getAttribute("data-busy");
        button.setAttribute("aria-disabled", "true");
        window.setTimeout(function () { button.disabled = true; }, 0);
      }
      if (status) { status.textContent = form.getAttribute("data-busy"); }
      form.setAttribute("aria-busy", "true");
    });
  });
})();

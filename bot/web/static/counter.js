/* A live character and SMS segment counter for a <textarea data-counter="ID">, where ID is the
   element that shows the count. data-before and data-after hold the words the text is sent
   inside (a listening question's template), so the count is the whole SMS. Progressive enhancement: the server counts again on submit
   (config/segments.py, the same rules), and without this file the form works the same.
   GSM-7: 160 characters in one text, 153 per part; ^{}\[~]|€ count twice. Any other character
   (a curly quote, an emoji) makes it UCS-2: 70 in one text, 67 per part. */
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENDED = "^{}\\[~]|€\f";

  function parts(units, single, part) {
    var total = 0, i;
    for (i = 0; i < units.length; i++) { total += units[i]; }
    if (total === 0) { return 0; }
    if (total <= single) { return 1; }
    var count = 1, used = 0;
    for (i = 0; i < units.length; i++) {
      if (used + units[i] > part) { count += 1; used = 0; }
      used += units[i];
    }
    return count;
  }

  function segments(text) {
    var units = [], gsm = true, i, ch;
    var chars = Array.from ? Array.from(text) : text.split("");
    for (i = 0; i < chars.length; i++) {
      ch = chars[i];
      if (BASIC.indexOf(ch) >= 0) { units.push(1); }
      else if (EXTENDED.indexOf(ch) >= 0) { units.push(2); }
      else { gsm = false; break; }
    }
    if (gsm) { return {count: parts(units, 160, 153), gsm: true}; }
    units = [];
    for (i = 0; i < chars.length; i++) { units.push(chars[i].length > 1 ? 2 : 1); }
    return {count: parts(units, 70, 67), gsm: false};
  }

  var fields = document.querySelectorAll("textarea[data-counter]");
  Array.prototype.forEach.call(fields, function (field) {
    var out = document.getElementById(field.getAttribute("data-counter"));
    if (!out) { return; }
    function update() {
      var text = (field.getAttribute("data-before") || "") + field.value +
        (field.getAttribute("data-after") || "");
      var s = segments(text);
      var length = Array.from ? Array.from(text).length : text.length;
      out.textContent = length + (length === 1 ? " character, " : " characters, ") +
        s.count + (s.count === 1 ? " text" : " texts") +
        (s.gsm ? "" : " (a special character makes each text shorter)");
    }
    field.addEventListener("input", update);
    update();
  });
})();

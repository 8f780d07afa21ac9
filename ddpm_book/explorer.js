// The explorer's page script (ddpm_book/explorer.py inlines it into each
// explorer's HTML block, after the block's JSON data). ES5, no globals, no
// network. The double-underscored UID below is replaced by the explorer's
// id. nearest() is the nearest-frame rule of explorer.py's docstring; its
// reference is explorer.nearest_frame, and scripts/check_site.py checks
// that the two agree (through root.ddpmExplorer.nearest).
(function () {
  // The block around this script; found without the document, because
  // Jupyter may run the script before the output is attached to the page.
  var script = document.currentScript;
  var root = script ? script.parentNode : document.getElementById("__UID__");
  if (!root || root.getAttribute("data-ddpm-ready")) { return; }
  root.setAttribute("data-ddpm-ready", "1");
  function part(suffix) {
    return root.querySelector('[id="__UID__' + suffix + '"]');
  }
  var data = JSON.parse(part("-data").textContent);
  var img = part("-img");
  var current = data.current;
  data.images[current] = img.getAttribute("src");
  var inputs = [], outputs = [], n = data.names.length, i;
  for (i = 0; i < n; i++) {
    inputs.push(part("-c" + i));
    outputs.push(part("-c" + i + "-value"));
  }
  function steps(m, a, b) {
    if (data.kinds[m] === "number") { return Math.abs(a - b); }
    return a === b ? 0 : 1;
  }
  function nearest(target, moved) {
    var best = -1, bestMoved = 0, bestOthers = 0, k, m, c, d, o;
    for (k = 0; k < data.combos.length; k++) {
      c = data.combos[k];
      d = steps(moved, c[moved], target[moved]);
      o = 0;
      for (m = 0; m < n; m++) {
        if (m !== moved) { o += steps(m, c[m], target[m]); }
      }
      if (best < 0 || d < bestMoved || (d === bestMoved && o < bestOthers)) {
        best = k; bestMoved = d; bestOthers = o;
      }
    }
    return best;
  }
  // For scripts/check_site.py: the rule, to compare with Python's.
  root.ddpmExplorer = { nearest: nearest };
  function show(k) {
    var combo = data.combos[k], parts = [], m, label;
    current = k;
    for (m = 0; m < n; m++) {
      label = data.labels[m][combo[m]];
      inputs[m].value = String(combo[m]);
      if (data.kinds[m] === "number") {
        inputs[m].setAttribute("aria-valuetext", label);
      }
      outputs[m].textContent = label;
      parts.push(data.names[m] + " = " + label);
    }
    var src = data.images[k];
    img.src = src.indexOf("data:") === 0 ? src :
      "data:image/png;base64," + src;
    img.alt = data.title + ": " + parts.join(", ");
  }
  function listen(m) {
    function moved() {
      var target = data.combos[current].slice();
      target[m] = parseInt(inputs[m].value, 10);
      show(nearest(target, m));
    }
    inputs[m].addEventListener("input", moved);
    inputs[m].addEventListener("change", moved);
  }
  for (i = 0; i < n; i++) { listen(i); }
})();

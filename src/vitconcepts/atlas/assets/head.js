window.__atlasErrors = [];
window.__atlasBroken = 0;
window.__atlasNote = function (message) {
  window.__atlasErrors.push(String(message));
  var s = document.getElementById("atlas-status");
  if (s) { s.dataset.errors = window.__atlasErrors.length;
           s.textContent = JSON.stringify(window.__atlasErrors); }
};
window.addEventListener("error", function (e) {
  var t = e.target;
  if (t && t.tagName === "IMG") { window.__atlasBroken += 1; return; }
  if (t && t !== window && (t.src || t.href)) {
    window.__atlasNote("failed to load " + (t.src || t.href)); return; }
  window.__atlasNote((e.message || "error") + " at " + (e.filename || "") + ":" + (e.lineno || 0));
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__atlasNote("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
})();

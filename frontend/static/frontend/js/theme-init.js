// Runs before the stylesheet paints: apply the saved theme (or the system's) without a flash.
(function () {
  var saved = null;
  try { saved = localStorage.getItem("mqttmon-theme"); } catch (e) { /* private mode */ }
  var dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
})();

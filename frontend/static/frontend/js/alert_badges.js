// Firing-alert badges: every element with data-alert-badge="<query>" shows how many alerts of that scope are
// firing ("" = all the user's sites: the nav's badge, on every page; "connection=5", "topic=9" on those pages).
// Read from the API's list count, on load and at the evaluation's own pace (alerts change at most that often).
import { api } from "./api.js";

const REFRESH_MS = 15000;

async function refresh() {
  for (const badge of document.querySelectorAll("[data-alert-badge]")) {
    const scope = badge.dataset.alertBadge;
    try {
      const data = await api(`/api/alerts?state=firing&limit=1${scope ? `&${scope}` : ""}`);
      const count = data.count || 0;
      badge.hidden = count === 0;
      badge.textContent = count ? `${count} firing` : "";
      badge.title = count ? `${count} alert(s) firing` : "";
    } catch {
      // The page's own status line says when the server is away; a badge keeps its last count.
    }
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
document.addEventListener("alerts-changed", refresh);

// API tokens: your own (create, shown once; revoke) and, on the sites you manage, the tokens of their people.
import { api } from "./api.js";
import { ago, el, pageData, toast, when } from "./ui.js";

const page = pageData();
const ownBody = document.getElementById("own-tokens");
const form = document.getElementById("token-form");

document.getElementById("live-state").hidden = true; // this page has no live data

function expiry(token) {
  if (token.expired) return el("span", { class: "tag bad" }, "expired");
  return token.expires_at ? when(token.expires_at) : "never";
}

function revokeButton(token, reload) {
  const label = token.user === page.user ? `Revoke ${token.name}` : `Revoke ${token.user}'s ${token.name}`;
  return el("button", {
    type: "button", class: "small danger", "aria-label": label,
    onclick: async () => {
      if (!window.confirm(`${label}? Anything using it stops working at once.`)) return;
      try {
        await api(`/api/tokens/${token.id}`, { method: "DELETE" });
        toast(`Revoked ${token.name}`);
      } catch (error) {
        toast(error.message, "bad");
      }
      await reload();
    },
  }, "Revoke");
}

function rows(body, tokens, cells, reload) {
  body.replaceChildren(...(tokens.length ? tokens.map((t) => el("tr", { dataset: { token: t.id } }, ...cells(t).map((c) => el("td", {}, c)), el("td", {}, revokeButton(t, reload))))
    : [el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No tokens."))]));
}

async function loadOwn() {
  try {
    const tokens = await api("/api/tokens");
    rows(ownBody, tokens, (t) => [t.name, el("code", {}, `${t.prefix}…`), when(t.created_at), expiry(t), t.last_used_at ? ago(t.last_used_at) : "never"], reloadAll);
  } catch (error) {
    toast(error.message, "bad");
  }
}

async function loadSite(section) {
  const body = section.querySelector("tbody");
  try {
    const tokens = await api(`/api/sites/${section.dataset.site}/tokens`);
    rows(body, tokens, (t) => [t.user, t.name, el("code", {}, `${t.prefix}…`), expiry(t), t.last_used_at ? ago(t.last_used_at) : "never"], reloadAll);
  } catch (error) {
    toast(error.message, "bad");
  }
}

async function reloadAll() {
  await Promise.all([loadOwn(), ...[...document.querySelectorAll(".site-tokens")].map(loadSite)]);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const days = document.getElementById("token-days").value;
  const body = { name: document.getElementById("token-name").value, expires_in_days: days ? Number(days) : null };
  try {
    const created = await api("/api/tokens", { method: "POST", body });
    document.getElementById("token-value").textContent = created.token;
    document.getElementById("token-created").hidden = false;
    form.reset();
  } catch (error) {
    toast(error.message, "bad");
  }
  await reloadAll();
});

reloadAll();

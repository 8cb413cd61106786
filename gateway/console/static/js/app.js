// The console's shell: login, navigation and a hash router (#/events/ID ...). Each page is a
// module whose render(main, params) draws it and may return a function that stops its timers.

import { request, token } from "./api.js";
import { el, flash, panel, replace } from "./dom.js";
import { renderDevices } from "./pages/devices.js";
import { renderEvent, renderEvents } from "./pages/events.js";
import { renderInvitation, renderInvitations } from "./pages/invitations.js";
import { renderOverview } from "./pages/overview.js";
import { renderVen, renderVens } from "./pages/vens.js";

const ROUTES = [
  [/^#?\/?$/, "overview", renderOverview],
  [/^#\/invitations$/, "invitations", renderInvitations],
  [/^#\/invitations\/(.+)$/, "invitations", renderInvitation],
  [/^#\/events$/, "events", renderEvents],
  [/^#\/events\/(.+)$/, "events", renderEvent],
  [/^#\/vens$/, "vens", renderVens],
  [/^#\/vens\/(.+)$/, "vens", renderVen],
  [/^#\/devices$/, "devices", renderDevices],
];

const main = document.getElementById("app");
const nav = document.getElementById("nav");
let leave = null;

function stopPage() {
  if (typeof leave === "function") leave();
  leave = null;
}

function loginPage(message) {
  stopPage();
  nav.hidden = true;
  const error = el("p", { class: "form-error", hidden: !message }, message || "");
  const field = el("input", { type: "password", name: "token", id: "token", required: true,
                              autocomplete: "current-password", placeholder: "admin token" });
  const form = el("form", { class: "stack", dataset: { form: "login" } },
    el("label", { for: "token" }, "Admin token", field,
      el("span", { class: "muted" }, "In data/admin_token, or GATEWAY_ADMIN_TOKEN. Kept for this tab only.")),
    el("div", {}, el("button", { type: "submit", class: "primary" }, "Log in")), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const given = field.value.trim();
    try {
      await request("GET", "/console/session", undefined, given);
    } catch (err) {
      error.textContent = err.status === 401 ? "That is not the admin token." : `Cannot check the token: ${err.message}`;
      error.hidden = false;
      return;
    }
    token.set(given);
    show();
  });
  replace(main, el("div", { class: "login" }, panel("Log in to the console", form)));
  field.focus();
}

async function show() {
  if (!token.get()) return loginPage();
  stopPage();
  nav.hidden = false;
  const hash = window.location.hash || "#/";
  for (const [pattern, section, render] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const a of nav.querySelectorAll("a[data-nav]")) a.classList.toggle("active", a.dataset.nav === section);
    const params = match.slice(1).map(decodeURIComponent);
    replace(main, el("p", { class: "muted" }, "Loading…"));
    try {
      leave = await render(main, ...params);
    } catch (err) {
      if (!token.get()) return loginPage("The token is no longer accepted: log in again.");
      replace(main, panel("Something went wrong", el("p", { class: "form-error" }, err.message || String(err))));
    }
    return;
  }
  replace(main, panel("Not found", el("p", {}, "No such page in the console.")));
}

document.getElementById("logout").addEventListener("click", () => {
  token.clear();
  window.location.hash = "#/";
  loginPage();
});
window.addEventListener("console:logged-out", () => flash("Logged out: the token was refused.", "bad"));
window.addEventListener("hashchange", show);
show();

// Overview: programs, VENs online/offline, invitations waiting, events scheduled/active, and
// today's reduction, refreshed every few seconds.

import { get } from "../api.js";
import { ago, card, el, kw, kwh, link, num, panel, pill, replace, right, route, table, when } from "../dom.js";

const REFRESH_MS = 5000;

function startOfTodayUtc(now) {
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
}

// Today's reduction: energy of the events that started today (UTC), the stored result of
// those that ended and the live total of those running.
export function todaysReduction(events, now = new Date()) {
  const since = startOfTodayUtc(now);
  let energy = 0;
  let power = 0;
  let counted = 0;
  for (const e of events) {
    if (!e.started_at || Date.parse(e.started_at) < since) continue;
    const live = e.status === "active" ? e.live : null;
    const kwhValue = live ? live.energy_reduction_kwh : e.results.energy_reduction_kwh;
    if (kwhValue === null || kwhValue === undefined) continue;
    energy += kwhValue;
    power += (live ? live.current_reduction_kw : e.results.average_reduction_kw) ?? 0;
    counted += 1;
  }
  return { energy, power, counted };
}

async function draw(main) {
  const [programs, vens, presence, waiting, scheduled, active, recent] = await Promise.all([
    get("/api/programs"), get("/api/vens"), get("/console/presence"),
    get("/api/invitations?state=waiting&limit=50"), get("/api/events?status=scheduled&limit=50"),
    get("/api/events?status=active&limit=50"), get("/api/events?limit=200"),
  ]);
  const states = presence.vens;
  const online = vens.items.filter((v) => states[v.ven_id] === "online").length;
  const offline = vens.items.filter((v) => states[v.ven_id] === "offline").length;
  // The list leaves out the live state of a running event: read each running one.
  const running = await Promise.all(active.items.map((e) => get(`/api/events/${encodeURIComponent(e.id)}`)));
  const today = todaysReduction([...running, ...recent.items.filter((e) => e.status !== "active")]);

  const cards = el("div", { class: "cards" },
    card("Programs", String(programs.count), null, "programs"),
    card("VENs online", `${online} / ${vens.count}`, `${offline} offline`, "vens-online"),
    card("Invitations waiting", String(waiting.count), "for answers", "invitations-waiting"),
    card("Events", `${active.count} active`, `${scheduled.count} scheduled`, "events"),
    card("Reduction today", kwh(today.energy), `${today.counted} event(s), ${kw(today.power)} now or on average`, "reduction-today"));

  const venRows = vens.items.map((v) => [
    link(route.ven(v.ven_id), v.name), el("span", { class: "mono" }, v.ven_id),
    pill(states[v.ven_id] || "unregistered"), ago(v.last_seen_at, new Date(presence.now)),
    right(String(v.devices)),
  ]);
  const invitationRows = waiting.items.map((i) => [
    link(route.invitation(i.id), i.id.slice(0, 8)), when(i.event_time), `${i.duration_minutes} min`,
    right(kw(i.target_kw)), right(`${i.answers.length} / ${i.devices.length}`),
  ]);
  const eventRows = [...active.items, ...scheduled.items].map((e) => [
    link(route.event(e.id), e.id.slice(0, 8)), pill(e.status), when(e.start_time),
    `${num(e.duration_minutes, 0)} min`, right(kw(e.target_kw)), right(String(e.devices.length)),
  ]);
  const programRows = programs.items.map((p) => [
    el("strong", {}, p.name), el("span", { class: "mono" }, p.market_context), p.membership,
    right(p.membership === "all" ? "all" : String(p.vens.length)),
  ]);
  replace(main,
    el("h1", {}, "Overview", el("span", { class: "muted" }, `as of ${when(presence.now)}`)),
    cards,
    el("div", { class: "grid" },
      panel("Events scheduled and active", table(["Event", "Status", "Start", "Duration", ["Target", "num"], ["Devices", "num"]], eventRows, "No event scheduled or running.")),
      panel("Invitations waiting for answers", table(["Invitation", "Event time", "Duration", ["Target", "num"], ["Answers", "num"]], invitationRows, "No invitation is waiting."))),
    el("div", { class: "grid" },
      panel("VENs", table(["Name", "VEN id", "State", "Last contact", ["Devices", "num"]], venRows, "No VEN provisioned.")),
      panel("Programs", table(["Name", "Market context", "Membership", ["VENs", "num"]], programRows))));
}

export async function renderOverview(main) {
  await draw(main);
  const timer = setInterval(() => draw(main).catch(() => {}), REFRESH_MS);
  return () => clearInterval(timer);
}

// Events: the list, and one event's page: baseline and actual power over time and the
// reduction, drawn from the stored samples, updating every few seconds while it runs; the
// results, coverage and gaps; each device's numbers; once it has ended, its settlement.

import { download, get, id, post, q } from "../api.js";
import { lineChart, legend } from "../chart.js";
import { bar, el, facts, kw, kwh, link, num, panel, pct, pill, replace, right, route, table, when } from "../dom.js";
import { form } from "../forms.js";
import { SettlementPanel } from "./settlement.js";

const LIVE_MS = 3000;
const PAGE_DEVICES = 50;
const COLOURS = { baseline: "#8c959f", actual: "#0b6bcb", reduction: "#1a7f37" };

export async function renderEvents(main) {
  const status = new URLSearchParams(window.location.hash.split("?")[1] || "").get("status") || "";
  const list = await get(q("/api/events", { status, limit: 200 }));
  const rows = list.items.map((e) => [
    link(route.event(e.id), e.id.slice(0, 8)), pill(e.status), when(e.start_time), when(e.end_time),
    right(kw(e.target_kw)), right(String(e.devices.length)),
    right(kw(e.status === "active" && e.live ? e.live.current_reduction_kw : e.results.average_reduction_kw)),
    right(kwh(e.status === "active" && e.live ? e.live.energy_reduction_kwh : e.results.energy_reduction_kwh)),
    right(pct(e.status === "active" && e.live ? e.live.coverage : e.results.coverage)), e.program_id,
  ]);
  const filter = el("div", { class: "row" }, ["", "scheduled", "active", "completed", "cancelled", "missed"]
    .map((s) => link(s ? `#/events?status=${s}` : "#/events", s || "all")));
  replace(main, el("h1", {}, "Events"),
    panel(`Events (${list.count})`, filter, table(["Event", "Status", "Start", "End", ["Target", "num"], ["Devices", "num"], ["Reduction", "num"], ["Energy", "num"], ["Coverage", "num"], "Program"], rows, "No event yet.")));
}

// The samples of one page of devices, kept as they arrive: instants and per-device columns.
class SampleStore {
  constructor() { this.reset(0); }

  reset(cursor) {
    this.cursor = cursor;
    this.instants = [];
    this.devices = [];
    this.lastIndex = -1;
    this.total = 0;
    this.next = null;
  }

  add(page) {
    this.total = page.total_devices;
    this.next = page.next_cursor;
    if (!this.devices.length) {
      this.devices = page.devices.map((d) => ({ ...d, power_kw: [], reduction_kw: [] }));
    }
    this.instants.push(...page.samples.map((s) => ({ index: s.index, t: Date.parse(s.at) })));
    page.devices.forEach((d, i) => {
      this.devices[i].baseline_kw = d.baseline_kw;
      this.devices[i].power_kw.push(...d.power_kw);
      this.devices[i].reduction_kw.push(...d.reduction_kw);
    });
    if (page.samples.length) this.lastIndex = page.samples[page.samples.length - 1].index;
  }

  // Totals over the devices measured at each instant that have a baseline: baseline and
  // actual over the same devices, so their difference is the reduction; no device measured
  // is a gap (null), never 0.
  totals(only) {
    const chosen = only ? this.devices.filter((d) => d.device_id === only) : this.devices;
    return this.instants.map((s, k) => {
      let base = 0; let actual = 0; let measured = 0;
      for (const d of chosen) {
        const p = d.power_kw[k];
        if (p === null || d.baseline_kw === null) continue;
        base += d.baseline_kw; actual += p; measured += 1;
      }
      return measured ? { t: s.t, base, actual, reduction: base - actual, measured } : { t: s.t, base: null, actual: null, reduction: null, measured: 0 };
    });
  }

  // Sample slots with no stored sample: runs of missing indices between the first and last.
  gaps() {
    const out = [];
    for (let k = 1; k < this.instants.length; k += 1) {
      const before = this.instants[k - 1].index; const after = this.instants[k].index;
      if (after > before + 1) out.push([before + 1, after - 1, this.instants[k - 1].t, this.instants[k].t]);
    }
    return out;
  }
}

function resultFacts(e) {
  const live = e.status === "active" ? e.live : null;
  const r = e.results;
  const rate = (value, target) => (value === null || value === undefined || !target ? null : value / target);
  const avg = live ? live.average_reduction_kw : r.average_reduction_kw;
  const energy = live ? live.energy_reduction_kwh : r.energy_reduction_kwh;
  const coverage = live ? live.coverage : r.coverage;
  return facts([
    live ? ["Reduction now", el("strong", { dataset: { result: "current_reduction_kw" } }, kw(live.current_reduction_kw))] : null,
    ["Average reduction", el("strong", { dataset: { result: "average_reduction_kw" } }, kw(avg))],
    ["Energy reduced", el("span", { dataset: { result: "energy_reduction_kwh" } }, kwh(energy))],
    ["Target", `${kw(e.target_kw)} · ${kwh(e.target_kwh)}`],
    ["Achievement", `${pct(rate(avg, e.target_kw))} of kW · ${pct(rate(energy, e.target_kwh))} of kWh`],
    ["Coverage", el("span", { class: "row", dataset: { result: "coverage" } }, pct(coverage), bar(coverage))],
    ["Gaps", r.gap_seconds === null ? (live ? "counted when it ends" : "—") : `${num(r.gap_seconds, 0)} s not measured`],
    ["Late start", e.late_start_seconds === null ? "—" : `${num(e.late_start_seconds, 1)} s`],
    live ? ["Devices reading", `${live.devices_present} / ${live.devices_total}`] : null,
  ].filter(Boolean));
}

function chartPanel(store, selected, onSelect) {
  const totals = store.totals(selected);
  const power = [
    { name: "Baseline", color: COLOURS.baseline, dashed: true, points: totals.map((s) => [s.t, s.base]) },
    { name: "Actual", color: COLOURS.actual, points: totals.map((s) => [s.t, s.actual]) },
  ];
  const reduction = [{ name: "Reduction", color: COLOURS.reduction, points: totals.map((s) => [s.t, s.reduction]) }];
  const picker = el("select", { name: "device", "aria-label": "device shown" },
    el("option", { value: "" }, `All ${store.devices.length} devices on this page`),
    store.devices.map((d) => el("option", { value: d.device_id, selected: d.device_id === selected || null }, d.device_id)));
  picker.addEventListener("change", () => onSelect(picker.value || null));
  const missing = totals.filter((s) => s.measured === 0).length;
  return panel("Power over the event",
    el("div", { class: "row" }, picker, el("span", { class: "muted", dataset: { samples: store.instants.length } },
      `${store.instants.length} samples stored${missing ? `, ${missing} with no reading` : ""}`)),
    legend(power), lineChart({ series: power, name: "power" }),
    el("p", { class: "note" }, "Baseline and actual are summed over the devices measured at each sample and having a baseline, so their difference is the reduction; a sample with no reading is a gap in the line, never 0 kW."),
    legend(reduction), lineChart({ series: reduction, name: "reduction", height: 170 }));
}

function deviceTable(e, store) {
  const stored = new Map(e.devices.map((d) => [d.device_id, d]));
  const rows = store.devices.map((d) => {
    const result = stored.get(d.device_id) || {};
    const present = d.power_kw.filter((p) => p !== null).length;
    const last = [...d.power_kw].reverse().find((p) => p !== null) ?? null;
    const reductions = d.reduction_kw.filter((r) => r !== null);
    const mean = reductions.length ? reductions.reduce((a, b) => a + b, 0) / reductions.length : null;
    const coverage = store.instants.length ? present / store.instants.length : null;
    return [
      d.device_id, right(kw(result.committed_kw)), right(kw(d.baseline_kw)), right(kw(last)),
      right(kw(result.average_reduction_kw ?? mean)), right(kwh(result.energy_reduction_kwh)),
      right(`${present} / ${store.instants.length}`), right(pct(result.coverage ?? coverage)),
      { value: result.note ?? (d.baseline_kw === null ? "no baseline reading" : ""), class: "wrap" },
    ];
  });
  return table(["Device", ["Committed", "num"], ["Baseline", "num"], ["Last reading", "num"], ["Avg reduction", "num"], ["Energy", "num"], ["Samples", "num"], ["Coverage", "num"], "Note"], rows, "No device.");
}

export async function renderEvent(main, eventId) {
  const path = `/api/events/${id(eventId)}`;
  const store = new SampleStore();
  let event = await get(path);
  let selected = null;
  let timer = null;
  const settlement = new SettlementPanel(path, event.id);

  async function fetchSamples() {
    const page = await get(q(`${path}/samples`, { limit: PAGE_DEVICES, cursor: store.cursor || null, after_index: store.lastIndex }));
    store.add(page);
  }

  function draw() {
    const running = event.status === "active" || event.status === "scheduled";
    const gaps = store.gaps();
    const pager = el("div", { class: "pager" },
      el("button", { type: "button", disabled: store.cursor === 0 || null, onclick: () => turn(Math.max(0, store.cursor - PAGE_DEVICES)) }, "◀ Previous devices"),
      el("span", { class: "muted" }, `devices ${store.devices.length ? store.cursor + 1 : 0}–${store.cursor + store.devices.length} of ${store.total}`),
      el("button", { type: "button", disabled: store.next === null || null, onclick: () => turn(store.next) }, "Next devices ▶"),
      el("button", { type: "button", onclick: () => download(`${path}/samples?format=csv`, `event-${event.id}-samples.csv`) }, "Download every sample (CSV)"));
    const cancel = running ? form({
      name: "cancel-event", submit: "Cancel event", danger: true, inline: true, done: "Event cancelled",
      fields: [{ name: "reason", label: "Reason (optional)" }],
      onSubmit: async (v) => { event = await post(`${path}/cancel`, v.reason ? { reason: v.reason } : {}); draw(); },
    }) : null;
    const errors = event.ven_errors.map((x) => [link(route.ven(x.ven_id), x.ven_id), right(String(x.code)), { value: x.description, class: "wrap" }, when(x.received_at)]);
    // A live redraw keeps what the operator was typing.
    const typed = main.querySelector("form[data-form=cancel-event] input[name=reason]")?.value;
    replace(main,
      el("h1", {}, "Event", el("span", { class: "mono" }, event.id), pill(event.status),
        event.status === "active" ? el("span", { class: "muted", dataset: { live: "on" } }, "live, updated every 3 s") : null),
      el("div", { class: "grid" },
        panel("Schedule", facts([
          ["Program", event.program_id], ["Start", when(event.start_time)], ["End", when(event.end_time)],
          ["Duration", `${num(event.duration_minutes, 0)} min`], ["Started", when(event.started_at)], ["Ended", when(event.ended_at)],
          ["Invitation", event.invitation_id ? link(route.invitation(event.invitation_id), event.invitation_id) : "scheduled directly"],
          event.cancel_reason ? ["Cancelled because", event.cancel_reason] : null,
        ].filter(Boolean)), cancel),
        panel(event.status === "active" ? "Results so far" : "Results", resultFacts(event),
          gaps.length ? el("div", {}, el("h2", {}, "Gaps in the stored samples"),
            table(["Samples", "From", "To"], gaps.map(([a, b, t0, t1]) => [a === b ? `#${a}` : `#${a}–#${b}`, when(new Date(t0).toISOString()), when(new Date(t1).toISOString())]))) : null)),
      chartPanel(store, selected, (value) => { selected = value; draw(); }),
      panel("Devices", deviceTable(event, store), pager),
      settlement.show(event),
      errors.length ? panel("Errors VENs sent about it", table(["VEN", ["Code", "num"], "Description", "Received"], errors)) : null);
    const reason = main.querySelector("form[data-form=cancel-event] input[name=reason]");
    if (reason && typed) reason.value = typed;
  }

  async function turn(cursor) {
    store.reset(cursor);
    await fetchSamples();
    draw();
  }

  async function tick() {
    event = await get(path);
    await fetchSamples();
    draw();
    if (!["active", "scheduled"].includes(event.status)) stop();
  }

  function stop() { if (timer) clearInterval(timer); timer = null; }

  function stopAll() { stop(); settlement.stop(); }

  await fetchSamples();
  draw();
  if (["active", "scheduled"].includes(event.status)) {
    timer = setInterval(() => tick().catch(() => {}), LIVE_MS);
  }
  return stopAll;
}

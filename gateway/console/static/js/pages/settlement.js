// An ended event's settlement on its page: each device's baseline, actual and reduction kWh,
// the share measured, committed against delivered kW, the baseline method and its
// parameters, the totals and the version; the CSV, and a recompute for operators. Until the
// gateway has settled it (once its last meter interval has closed) the panel says so and
// looks again every few seconds.

import { ApiError, download, get, post } from "../api.js";
import { el, facts, flash, kw, kwh, num, panel, pct, replace, right, table, when } from "../dom.js";
import { form } from "../forms.js";

const POLL_MS = 3000;

// Only an event that ran is settled: completed, or cancelled once it had started.
export const settles = (e) => e.status === "completed" || (e.status === "cancelled" && e.started_at !== null);

export class SettlementPanel {
  constructor(eventPath, eventId) {
    this.url = `${eventPath}/settlement`;
    this.eventId = eventId;
    this.node = el("div", { dataset: { settlement: "loading" } });
    this.view = null;
    this.timer = null;
    this.started = false;
  }

  // The panel's node for this state of the event (null before it has ended).
  show(event) {
    if (!settles(event)) return null;
    if (!this.started) {
      this.started = true;
      this.load().catch(() => {});
    }
    return this.node;
  }

  stop() { if (this.timer) clearTimeout(this.timer); this.timer = null; }

  async load() {
    this.stop();
    try {
      this.view = await get(this.url);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      this.draw();
      this.timer = setTimeout(() => this.load().catch(() => {}), POLL_MS);
      return;
    }
    this.draw();
  }

  async recompute() {
    const before = this.view ? this.view.version : 0;
    this.view = await post(this.url);
    this.stop();
    this.draw();
    flash(this.view.version > before ? `Settlement version ${this.view.version} stored` : `Unchanged: still version ${this.view.version}`);
  }

  draw() {
    const v = this.view;
    const button = form({ name: "recompute-settlement", submit: "Recompute", inline: true, fields: [], onSubmit: () => this.recompute() });
    if (v === null) {
      this.node.dataset.settlement = "pending";
      replace(this.node, panel("Settlement",
        el("p", { class: "muted" }, "Not settled yet: the gateway settles it once the last meter interval of the event has closed."),
        button));
      return;
    }
    this.node.dataset.settlement = String(v.version);
    const t = v.totals;
    // Devices with no commitment add nothing: none at all is no committed kW, not 0 kW.
    const committed = v.devices.some((d) => d.committed_kw !== null) ? t.committed_kw : null;
    const total = (name, text) => el("span", { dataset: { settlementTotal: name } }, text);
    const rows = v.devices.map((d) => [
      d.device_id, right(kwh(d.baseline_kwh)), right(kwh(d.actual_kwh)), right(kwh(d.reduction_kwh)),
      right(pct(d.measured_share)), right(kw(d.committed_kw)), right(kw(d.delivered_kw)),
      { value: d.baseline === "ok" ? "" : d.baseline, class: "wrap" },
    ]);
    replace(this.node, panel(`Settlement · version ${v.version}`,
      facts([
        ["Baseline method", el("span", { dataset: { settlementMethod: v.baseline_method } }, v.baseline_method)],
        ["Parameters", v.baseline_parameters === null ? "none (the executor's baseline before the start)"
          : el("code", { class: "wrap" }, Object.entries(v.baseline_parameters).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(", "))],
        ["Settled", `${when(v.start_time)} – ${when(v.end_time)} on ${v.interval_minutes}-minute intervals`],
        ["Baseline · actual", `${kwh(t.baseline_kwh)} · ${kwh(t.actual_kwh)}`],
        ["Reduction", el("strong", {}, total("reduction_kwh", kwh(t.reduction_kwh)))],
        ["Committed · delivered", total("delivered_kw", `${kw(committed)} · ${kw(t.delivered_kw)}`)],
        ["Share measured", total("measured_share", pct(t.measured_share))],
        ["Devices", `${num(t.devices_settled, 0)} settled, ${num(t.devices_without_baseline, 0)} without a baseline`],
        ["Computed", `${when(v.computed_at)} (version ${v.version})`],
      ]),
      table(["Device", ["Baseline", "num"], ["Actual", "num"], ["Reduction", "num"], ["Measured", "num"], ["Committed", "num"], ["Delivered", "num"], "Note"], rows, "No device."),
      el("p", { class: "note" }, "kWh over the event's part of each interval; an interval without a baseline or a measured actual is left out of the sums, never counted as 0."),
      el("div", { class: "row" },
        el("button", { type: "button", dataset: { download: "settlement" }, onclick: () => download(`${this.url}?format=csv&version=${v.version}`, `event-${this.eventId}-settlement-v${v.version}.csv`) }, "Download settlement (CSV)"),
        button)));
  }
}

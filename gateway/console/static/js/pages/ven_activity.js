// A VEN's page, what it said and reported: its last 2.0b messages, the TELEMETRY_STATUS of its
// resources and its opt schedules (EiOpt).

import { get, id } from "../api.js";
import { el, num, panel, pill, table, when } from "../dom.js";

const NONE = "—";
const DIRECTION = { from_ven: "from VEN", to_ven: "to VEN" };
const mono = (text) => el("span", { class: "mono" }, text);
const yesNo = (value) => (value === null || value === undefined ? NONE : value ? "yes" : "no");

// The message log lives in Redis: with Redis down its panel says so, the rest still shows.
export async function loadActivity(venId) {
  const base = `/api/vens/${id(venId)}`;
  const [messages, status, opts] = await Promise.all([
    get(`${base}/messages`).catch((err) => ({ error: err.message })), get(`${base}/status`), get(`${base}/opts`),
  ]);
  return { messages, status, opts };
}

function messagesPanel(messages) {
  if (messages.error) {
    return panel("Last messages", el("p", { class: "empty" }, `Unavailable: ${messages.error}.`));
  }
  const rows = messages.items.map((m) => [
    when(m.at), DIRECTION[m.direction] ?? m.direction, mono(m.message_type), m.request_id ? mono(m.request_id) : NONE,
    m.response_code === null ? NONE : m.error_code === null ? String(m.response_code) : pill(String(m.response_code), "bad"),
    m.error_code === null ? NONE : m.description ?? NONE,
  ]);
  return panel(`Last messages (${messages.count})`,
    el("p", { class: "muted" }, "OpenADR 2.0b, newest first, the last 50; each gateway process stores what it saw every few seconds."),
    table(["When", "Direction", "Message", "Request id", "Code", "Refusal"], rows, "No message yet."));
}

function loadControl(state) {
  if (!state) return NONE;
  return Object.entries(state).map(([kind, values]) =>
    `${kind}: ${Object.entries(values).map(([k, v]) => `${k} ${num(v)}`).join(", ")}`).join("; ");
}

function statusPanel(status) {
  const rows = status.items.map((s) => [
    mono(s.r_id), s.resource_id ?? NONE, s.online === null ? NONE : pill(s.online ? "online" : "offline"),
    yesNo(s.manual_override), loadControl(s.load_control), when(s.measured_at),
  ]);
  return panel("Resource status",
    table(["rID", "Resource", "Online", "Manual override", "Load control", "When"], rows, "No TELEMETRY_STATUS reported yet."));
}

function optsPanel(opts) {
  const rows = opts.items.map((o) => [
    mono(o.opt_id), pill(o.opt_type, o.opt_type === "optIn" ? "ok" : "bad"), o.opt_reason,
    o.event_id ? mono(o.event_id) : "availability",
    o.schedule.length ? o.schedule.map((s) => `${when(s.start)}, ${num(s.duration_minutes, 0)} min`).join("; ") : NONE,
    o.resource_ids.length ? o.resource_ids.join(", ") : "all",
    o.cancelled_at ? `cancelled ${when(o.cancelled_at)}` : `since ${when(o.created_at)}`,
  ]);
  return panel(`Opt schedules (${opts.count})`,
    table(["Opt id", "Opt", "Reason", "Event", "Schedule", "Resources", "State"], rows, "No opt sent yet."));
}

export function activityPanels({ messages, status, opts }) {
  return [
    el("div", { class: "grid" }, statusPanel(status), optsPanel(opts)),
    el("div", {}, messagesPanel(messages)),
  ];
}

// Invitations: the list, a new one, and one invitation's page with its answers and the
// operator's actions (answer for a device, modify, cancel).

import { get, id, post, put, q } from "../api.js";
import { el, facts, flash, kw, kwh, link, num, panel, pill, replace, right, route, table, when } from "../dom.js";
import { form, isoToLocal } from "../forms.js";

async function choices() {
  const [devices, programs] = await Promise.all([get("/api/devices"), get("/api/programs")]);
  return {
    devices: devices.items.map((d) => [d.id, d.ven_id ? `${d.id} (${d.ven_id})` : d.id]),
    programs: programs.items.map((p) => [p.id, p.name]),
  };
}

function inAnHour() {
  const d = new Date(Date.now() + 3600 * 1000);
  d.setSeconds(0, 0);
  return isoToLocal(d.toISOString());
}

function termsFields(options, current = {}) {
  return [
    { name: "event_time", label: "Event time (your local time)", type: "datetime-local",
      value: current.event_time ? isoToLocal(current.event_time) : inAnHour(), required: true },
    { name: "duration_minutes", label: "Duration (minutes)", type: "number", min: 1, max: 1440,
      value: current.duration_minutes ?? 60 },
    { name: "load_kwh", label: "Energy to shed (kWh)", type: "number", step: "any", min: 0,
      value: current.load_kwh ?? "" },
    { name: "load_percentage", label: "Load to shed (%)", type: "number", step: "any", min: 0,
      max: 100, value: current.load_percentage ?? "" },
    { name: "devices", label: "Devices", type: "checks", options: options.devices,
      value: current.devices ?? [] },
  ];
}

function termsBody(values) {
  const body = { event_time: values.event_time, devices: values.devices };
  for (const key of ["duration_minutes", "load_kwh", "load_percentage"]) {
    if (values[key] !== null) body[key] = values[key];
  }
  return body;
}

export async function renderInvitations(main) {
  const state = new URLSearchParams(window.location.hash.split("?")[1] || "").get("state") || "";
  const [list, options] = await Promise.all([
    get(q("/api/invitations", { state, limit: 200 })), choices(),
  ]);
  const rows = list.items.map((i) => [
    link(route.invitation(i.id), i.id.slice(0, 8)), pill(i.status), pill(i.response),
    when(i.event_time), `${i.duration_minutes} min`, right(kwh(i.load_kwh)), right(kw(i.target_kw)),
    right(`${i.answers.length} / ${i.devices.length}`), i.program_id,
  ]);
  const create = form({
    name: "new-invitation", submit: "Invite", done: "Invitation created",
    fields: [...termsFields(options),
      { name: "program_id", label: "Program", type: "select", options: options.programs, value: "default" }],
    onSubmit: async (values) => {
      const created = await post("/api/invitations", { ...termsBody(values), program_id: values.program_id });
      window.location.hash = route.invitation(created.id);
    },
  });
  const filter = el("div", { class: "row" }, ["", "waiting", "answered"].map((s) =>
    link(s ? `#/invitations?state=${s}` : "#/invitations", s || "all")));
  replace(main,
    el("h1", {}, "Invitations"),
    el("div", { class: "grid" },
      panel(`Invitations (${list.count})`, filter,
        table(["Invitation", "Status", "Response", "Event time", "Duration", ["Energy", "num"], ["Target", "num"], ["Answers", "num"], "Program"], rows, "No invitation yet.")),
      panel("New invitation", create)));
}

export async function renderInvitation(main, invitationId) {
  const [inv, options] = await Promise.all([get(`/api/invitations/${id(invitationId)}`), choices()]);
  const answered = new Set(inv.answers.map((a) => a.device_id));
  const open = inv.status === "pending";
  const answerRows = inv.answers.map((a) => [
    a.device_id, pill(a.answer), right(a.answer === "YES" ? kw(a.committed_kw) : "—"), a.source, { value: a.reason ?? "—", class: "wrap" }, when(a.answered_at),
  ]);
  const waitingRows = inv.devices.filter((d) => !answered.has(d)).map((d) => [d, pill("WAITING")]);
  const errorRows = inv.ven_errors.map((e) => [
    link(route.ven(e.ven_id), e.ven_id), right(String(e.code)), { value: e.description, class: "wrap" }, e.message_type, when(e.received_at),
  ]);
  const reload = () => renderInvitation(main, invitationId);
  const answer = form({
    name: "answer", submit: "Record answer", done: "Answer recorded", inline: true,
    fields: [
      { name: "device_id", label: "Device", type: "select", options: inv.devices.filter((d) => !answered.has(d)).map((d) => [d, d]) },
      { name: "answer", label: "Answer", type: "select", options: [["YES", "YES"], ["NO", "NO"]] },
      { name: "committed_kw", label: "Committed kW", type: "number", step: "any", min: 0 },
    ],
    onSubmit: async (v) => {
      const body = { device_id: v.device_id, answer: v.answer };
      if (v.committed_kw !== null) body.committed_kw = v.committed_kw;
      await post(`/api/invitations/${id(invitationId)}/answers`, body);
      await reload();
    },
  });
  const modify = form({
    name: "modify-invitation", submit: "Save changes", done: "Invitation modified: devices are asked again",
    fields: termsFields(options, inv),
    onSubmit: async (v) => { await put(`/api/invitations/${id(invitationId)}`, termsBody(v)); await reload(); },
  });
  const cancel = form({
    name: "cancel-invitation", submit: "Cancel invitation", danger: true, inline: true, done: "Invitation cancelled",
    fields: [{ name: "reason", label: "Reason (optional)" }],
    onSubmit: async (v) => {
      await post(`/api/invitations/${id(invitationId)}/cancel`, v.reason ? { reason: v.reason } : {});
      await reload();
    },
  });
  replace(main,
    el("h1", {}, "Invitation", el("span", { class: "mono" }, inv.id), pill(inv.status), pill(inv.response)),
    el("div", { class: "grid" },
      panel("Terms", facts([
        ["Program", inv.program_id], ["Event time", when(inv.event_time)], ["Ends", when(inv.end_time)],
        ["Duration", `${inv.duration_minutes} min`], ["Energy to shed", kwh(inv.load_kwh)],
        ["Load to shed", `${num(inv.load_percentage, 1)} %`], ["Power target", kw(inv.target_kw)],
        ["Answer policy", inv.answer_policy], ["Created", when(inv.created_at)],
        ["Decided", inv.decided_at ? `${when(inv.decided_at)}: ${inv.decision_reason ?? ""}` : "not yet"],
        ["Auto-response", inv.auto_response.note ?? (inv.auto_response.due_at ? `due ${when(inv.auto_response.due_at)}` : "off")],
        ["Event", inv.event_id ? link(route.event(inv.event_id), inv.event_id) : "none yet"],
      ])),
      panel("Answers", table(["Device", "Answer", ["Committed", "num"], "Source", "Reason", "When"], answerRows, "No answer yet."),
        waitingRows.length ? el("h2", {}, "Waiting for") : null,
        waitingRows.length ? table(["Device", ""], waitingRows) : null,
        open && waitingRows.length ? el("div", {}, el("h2", {}, "Answer for a device"), answer) : null)),
    errorRows.length ? panel("Errors VENs sent about it", table(["VEN", ["Code", "num"], "Description", "Message", "Received"], errorRows)) : null,
    open || inv.status === "scheduled" ? el("div", { class: "grid" },
      el("details", { class: "panel" }, el("summary", {}, "Modify the invitation"), modify),
      panel("Cancel", cancel)) : null);
}

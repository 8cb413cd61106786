// VENs: the list with who is online, provisioning one, and a VEN's page: registration,
// report points, what it sent last, its errors and refusals, tolerated schema deviations, its
// devices, its resources' status, opt schedules and last messages, and the operator's actions
// (enrol in a program, end or renew its registration).

import { get, id, post, put } from "../api.js";
import { ago, el, facts, kw, link, num, panel, pill, replace, right, route, table, when } from "../dom.js";
import { form } from "../forms.js";
import { activityPanels, loadActivity } from "./ven_activity.js";

export async function renderVens(main) {
  const [vens, presence] = await Promise.all([get("/api/vens"), get("/console/presence")]);
  const now = new Date(presence.now);
  const rows = vens.items.map((v) => [
    link(route.ven(v.ven_id), v.name), el("span", { class: "mono" }, v.ven_id), pill(presence.vens[v.ven_id] || "unregistered"),
    ago(v.last_seen_at, now), v.poll_frequency_seconds ? `${num(v.poll_frequency_seconds, 0)} s` : "—",
    right(String(v.devices)), right(String(v.errors.count)), v.provisioned ? "provisioned" : "open enrolment",
  ]);
  const provision = form({
    name: "provision-ven", submit: "Provision", done: "VEN provisioned",
    fields: [
      { name: "name", label: "Name", required: true, placeholder: "site-7" },
      { name: "fingerprint", label: "Certificate fingerprint", placeholder: "AA:BB:CC:DD:EE:FF:00:11:22:33", hint: "10 bytes, as the VEN's certificate shows it" },
      { name: "ven_id", label: "VEN id (optional)", placeholder: "generated when empty" },
    ],
    onSubmit: async (v) => {
      const body = { name: v.name };
      if (v.fingerprint) body.fingerprint = v.fingerprint;
      if (v.ven_id) body.ven_id = v.ven_id;
      const ven = await post("/api/vens", body);
      window.location.hash = route.ven(ven.ven_id);
    },
  });
  replace(main, el("h1", {}, "VENs"),
    el("div", { class: "grid" },
      panel(`VENs (${vens.count})`, el("p", { class: "muted" }, `Online: last contact within ${presence.online_poll_periods} poll periods (default poll ${presence.default_poll_seconds} s).`),
        table(["Name", "VEN id", "State", "Last contact", "Poll", ["Devices", "num"], ["Errors", "num"], "How"], rows, "No VEN yet: provision one.")),
      panel("Provision a VEN", provision)));
}

export async function renderVen(main, venId) {
  const [ven, presence, devices, programs, activity] = await Promise.all([
    get(`/api/vens/${id(venId)}`), get("/console/presence"), get("/api/devices"), get("/api/programs"),
    loadActivity(venId),
  ]);
  const now = new Date(presence.now);
  const own = devices.items.filter((d) => d.ven_id === ven.ven_id);
  const enrolled = programs.items.filter((p) => p.membership === "all" || p.vens.includes(ven.ven_id));
  const reload = () => renderVen(main, venId);
  const deviations = Object.entries(ven.schema_deviations).map(([kind, seen]) => [
    el("span", { class: "mono" }, kind), right(String(seen.count)), when(seen.last_seen_at),
  ]);
  const last = ven.errors.last;
  const enrol = form({
    name: "enrol-ven", submit: "Enrol", inline: true, done: "VEN enrolled",
    fields: [{ name: "program_id", label: "Program", type: "select",
               options: programs.items.filter((p) => p.membership === "enrolled" && !p.vens.includes(ven.ven_id)).map((p) => [p.id, p.name]) }],
    onSubmit: async (v) => { await put(`/api/programs/${id(v.program_id)}/vens/${id(ven.ven_id)}`); await reload(); },
  });
  const canEnrol = programs.items.some((p) => p.membership === "enrolled" && !p.vens.includes(ven.ven_id));
  const action = (label, path, done, danger) => el("button", {
    type: "button", class: danger ? "danger" : null, disabled: !ven.registered || null,
    onclick: async () => { await post(`/api/vens/${id(ven.ven_id)}/${path}`); await reload(); },
  }, label);
  replace(main,
    el("h1", {}, ven.name, el("span", { class: "mono muted" }, ven.ven_id), pill(presence.vens[ven.ven_id] || "unregistered"),
      el("div", { class: "actions" },
        action("Ask to re-register", "request-reregistration"), action("Cancel registration", "cancel-registration", "", true))),
    el("div", { class: "grid" },
      panel("Registration", facts([
        ["Registered", ven.registered ? "yes" : "no"], ["Registration id", ven.registration_id ?? "—"],
        ["Registered at", when(ven.registered_at)], ["Poll frequency", ven.poll_frequency_seconds ? `${num(ven.poll_frequency_seconds, 0)} s` : "—"],
        ["Last contact", `${ago(ven.last_seen_at, now)} (${when(ven.last_seen_at)})`],
        ["Fingerprint", el("span", { class: "mono" }, ven.fingerprint ?? "none")],
        ["Provisioned", ven.provisioned ? `yes, ${when(ven.created_at)}` : "no: enrolled itself (open enrolment)"],
        ["Waiting to tell it", ven.requests_waiting.length ? ven.requests_waiting.join(", ") : "nothing"],
      ])),
      panel("Report points and last telemetry", facts([
        ["VEN power", ven.power ? `${kw(ven.power.kw)} at ${when(ven.power.ts)}` : "no telemetry for the VEN itself"],
        ["Report point (rID)", ven.power?.r_id ? el("span", { class: "mono" }, ven.power.r_id) : "—"],
        ["Devices (resource ids)", own.length ? own.map((d) => d.resource_id ?? d.id).join(", ") : "none"],
      ]))),
    el("div", { class: "grid" },
      panel(`Errors and refusals it sent (${ven.errors.count})`, last ? facts([
        ["Latest code", String(last.code)], ["Description", last.description], ["Message", last.message_type],
        ["About", last.invitation_id ? link(route.invitation(last.invitation_id), last.invitation_id) : "no event"],
        ["Received", when(last.received_at)],
      ]) : el("p", { class: "empty" }, "None.")),
      panel("Schema deviations tolerated", table(["Kind", ["Messages", "num"], "Last seen"], deviations, "None: its messages follow the schema."))),
    activityPanels(activity),
    el("div", { class: "grid" },
      panel(`Devices (${own.length})`, table(["Device", "Resource id", "Timezone", "Registered"], own.map((d) => [d.id, d.resource_id ?? "—", d.timezone, when(d.created_at)]), "No device names this VEN.")),
      panel("Programs", table(["Program", "Membership"], enrolled.map((p) => [p.name, p.membership === "all" ? "every VEN" : "enrolled"]), "Not in any program."),
        canEnrol ? el("div", {}, el("h2", {}, "Enrol in a program"), enrol) : null)));
}

// Devices: the list, and registering one (with its VEN and resource id).

import { get, post } from "../api.js";
import { el, link, panel, replace, route, table, when } from "../dom.js";
import { form } from "../forms.js";

export async function renderDevices(main) {
  const [devices, vens] = await Promise.all([get("/api/devices"), get("/api/vens")]);
  const rows = devices.items.map((d) => [
    d.id, d.ven_id ? link(route.ven(d.ven_id), d.ven_id) : "—", d.resource_id ?? "—", d.timezone, when(d.created_at),
  ]);
  const create = form({
    name: "new-device", submit: "Register", done: "Device registered",
    fields: [
      { name: "id", label: "Device id", required: true, placeholder: "hvac-1" },
      { name: "timezone", label: "Timezone (IANA)", value: "UTC" },
      { name: "ven_id", label: "VEN", type: "select", options: [["", "none"], ...vens.items.map((v) => [v.ven_id, v.name])] },
      { name: "resource_id", label: "Resource id at the VEN", placeholder: "needs a VEN" },
    ],
    onSubmit: async (v) => {
      const body = { id: v.id };
      for (const key of ["timezone", "ven_id", "resource_id"]) if (v[key]) body[key] = v[key];
      await post("/api/devices", body);
      await renderDevices(main);
    },
  });
  replace(main, el("h1", {}, "Devices"),
    el("div", { class: "grid" },
      panel(`Devices (${devices.count})`, table(["Device", "VEN", "Resource id", "Timezone", "Registered"], rows, "No device yet.")),
      panel("Register a device", create)));
}

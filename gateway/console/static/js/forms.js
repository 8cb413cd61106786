// Forms that post to the API and show its answer: each 422 field error under its own input.

import { ApiError } from "./api.js";
import { el, flash } from "./dom.js";

function input(field) {
  const common = { name: field.name, id: `f-${field.name}`, required: field.required || null };
  if (field.type === "select") {
    return el("select", common, (field.options || []).map(([value, label]) =>
      el("option", { value, selected: String(value) === String(field.value ?? "") || null }, label)));
  }
  if (field.type === "checks") {
    const chosen = new Set(field.value || []);
    return el("div", { class: "checks", dataset: { checks: field.name } },
      (field.options || []).map(([value, label]) => el("label", {},
        el("input", { type: "checkbox", name: field.name, value, checked: chosen.has(value) || null }),
        label)));
  }
  if (field.type === "textarea") return el("textarea", { ...common, rows: 2 }, field.value ?? "");
  return el("input", {
    ...common, type: field.type || "text", value: field.value ?? null, step: field.step,
    min: field.min, max: field.max, placeholder: field.placeholder, autocomplete: "off",
  });
}

function read(formNode, fields) {
  const values = {};
  for (const field of fields) {
    if (field.type === "checks") {
      values[field.name] = [...formNode.querySelectorAll(`input[name="${field.name}"]:checked`)]
        .map((box) => box.value);
      continue;
    }
    const raw = formNode.elements[field.name].value.trim();
    if (field.type === "number") values[field.name] = raw === "" ? null : Number(raw);
    else if (field.type === "datetime-local") values[field.name] = raw === "" ? null : localToIso(raw);
    else values[field.name] = raw === "" ? null : raw;
  }
  return values;
}

// <input type=datetime-local> holds the browser's local time: the API wants an offset.
export function localToIso(value) {
  return new Date(value).toISOString();
}

export function isoToLocal(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function form({ name, fields, submit, onSubmit, inline = false, danger = false, done }) {
  const errors = {};
  const formError = el("p", { class: "form-error", hidden: true });
  const button = el("button", { type: "submit", class: danger ? "danger" : "primary" }, submit);
  const node = el("form", { class: inline ? "inline" : "stack", dataset: { form: name }, novalidate: true },
    fields.map((field) => {
      errors[field.name] = el("span", { class: "field-error", dataset: { errorFor: field.name } });
      return el("label", { for: `f-${field.name}` }, field.label, input(field),
        field.hint ? el("span", { class: "muted" }, field.hint) : null, errors[field.name]);
    }),
    el("div", {}, button), formError);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const span of Object.values(errors)) span.textContent = "";
    formError.hidden = true;
    button.disabled = true;
    try {
      await onSubmit(read(node, fields));
      if (done) flash(done);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const byField = err.fields;
      let shown = false;
      for (const [field, message] of Object.entries(byField)) {
        const key = field.split(".")[0];
        if (errors[key]) { errors[key].textContent = message; shown = true; }
      }
      if (!shown || !Object.keys(byField).length) {
        formError.textContent = err.message;
        formError.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  });
  return node;
}

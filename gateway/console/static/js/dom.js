// Building the page from data: every value goes in as text (textContent, attributes), never
// as markup, so nothing a VEN, a device or an operator typed can run in the console.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function link(href, text) {
  return el("a", { href }, text);
}

export const route = {
  event: (id) => `#/events/${encodeURIComponent(id)}`,
  invitation: (id) => `#/invitations/${encodeURIComponent(id)}`,
  ven: (id) => `#/vens/${encodeURIComponent(id)}`,
};

const NONE = "—";

export function num(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return NONE;
  return Number(value).toLocaleString("en", {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
}

export const kw = (value) => (value === null || value === undefined ? NONE : `${num(value)} kW`);
export const kwh = (value) => (value === null || value === undefined ? NONE : `${num(value)} kWh`);
export const pct = (ratio) => (ratio === null || ratio === undefined ? NONE : `${num(ratio * 100, 1)} %`);

// Times are shown in UTC, like every time the gateway stores, with the date when not today.
export function when(iso) {
  if (!iso) return NONE;
  const d = new Date(iso);
  const text = d.toISOString().replace("T", " ").slice(0, 19);
  return `${text} UTC`;
}

export function ago(iso, now = new Date()) {
  if (!iso) return "never";
  const seconds = Math.round((now - new Date(iso)) / 1000);
  const abs = Math.abs(seconds);
  const [n, unit] = abs < 90 ? [abs, "s"] : abs < 5400 ? [Math.round(abs / 60), "min"]
    : abs < 172800 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return seconds >= 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

const TONES = {
  online: "ok", completed: "ok", scheduled: "info", active: "ok live", YES: "ok",
  pending: "warn", WAITING: "warn", offline: "bad", missed: "bad", NO: "bad",
  cancelled: "", expired: "", unregistered: "",
};

export function pill(text, tone) {
  const cls = tone ?? TONES[text] ?? "";
  return el("span", { class: `pill ${cls}`.trim(), dataset: { status: text } }, text);
}

export function table(headers, rows, empty = "Nothing here yet.") {
  if (!rows.length) return el("p", { class: "empty" }, empty);
  const head = el("tr", {}, headers.map((h) => {
    const [label, cls] = Array.isArray(h) ? h : [h, ""];
    return el("th", { class: cls || null }, label);
  }));
  const body = rows.map((cells) => el("tr", {}, cells.map((c) => {
    if (c && typeof c === "object" && !(c instanceof Node) && "value" in c) {
      return el("td", { class: c.class || null }, c.value);
    }
    return el("td", {}, c);
  })));
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head),
    el("tbody", {}, body)));
}

export const right = (value) => ({ value, class: "num" });

export function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

export function panel(title, ...children) {
  return el("section", { class: "panel" }, title ? el("h2", {}, title) : null, ...children);
}

export function card(label, value, sub, name) {
  return el("div", { class: "card", dataset: { card: name } },
    el("div", { class: "label" }, label), el("div", { class: "value" }, value),
    sub ? el("div", { class: "sub" }, sub) : null);
}

export function bar(ratio) {
  const fill = el("span");
  fill.style.width = `${Math.max(0, Math.min(1, ratio ?? 0)) * 100}%`;
  return el("div", { class: "bar", title: pct(ratio) }, fill);
}

let flashTimer;
export function flash(message, tone = "") {
  const box = document.getElementById("flash");
  box.className = `flash ${tone}`.trim();
  box.textContent = message;
  box.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { box.hidden = true; }, 4000);
}

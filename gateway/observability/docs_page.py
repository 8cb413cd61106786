"""The page at ``/api/docs``: renders ``/api/openapi.json`` in the browser, self-contained.

No CDN and no vendored renderer: a page of plain HTML and a small script that reads the
document and lists each operation by tag, with its parameters, body and answers. Everything
from the document is inserted as text (``textContent``), never as HTML.
"""

from __future__ import annotations

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oadr-gateway admin API</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 64rem;
         padding: 1rem 1.5rem; color: #1d232a; }
  h1 { font-size: 1.5rem; margin-bottom: 0; }
  h2 { font-size: 1.15rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem;
       margin-top: 2rem; }
  details { border: 1px solid #d0d7de; border-radius: 6px; margin: .4rem 0; }
  summary { cursor: pointer; padding: .45rem .6rem; display: flex; gap: .6rem;
            align-items: baseline; }
  .method { font: bold 12px monospace; padding: .1rem .4rem; border-radius: 4px;
            color: #fff; min-width: 3.2rem; text-align: center; }
  .get { background: #0969da; } .post { background: #1a7f37; } .put { background: #9a6700; }
  .patch { background: #8250df; } .delete { background: #cf222e; }
  .path { font-family: monospace; font-weight: 600; }
  .lock { color: #9a6700; font-size: 12px; }
  .body { padding: 0 .9rem .7rem; }
  table { border-collapse: collapse; width: 100%; margin: .3rem 0; }
  th, td { text-align: left; border-bottom: 1px solid #eaeef2; padding: .2rem .4rem;
           vertical-align: top; }
  pre { background: #f6f8fa; padding: .6rem; overflow: auto; font-size: 13px; }
  .muted { color: #57606a; }
</style>
</head>
<body>
<h1 id="title">oadr-gateway admin API</h1>
<p class="muted">Generated from <a href="/api/openapi.json">/api/openapi.json</a>.
Writes need <code>Authorization: Bearer &lt;admin token&gt;</code> (marked &#128274;).</p>
<main id="operations"><p>Loading the API document&hellip;</p></main>
<script>
"use strict";
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}
function resolve(doc, schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { name, schema: doc.components.schemas[name] };
  }
  return { name: null, schema };
}
function table(head, rows) {
  const t = el("table", {}, el("tr", {}, ...head.map((h) => el("th", {}, h))));
  for (const r of rows) t.append(el("tr", {}, ...r.map((c) => el("td", {}, c))));
  return t;
}
function schemaBlock(doc, schema) {
  const { name, schema: s } = resolve(doc, schema);
  const box = el("div", {});
  if (name) box.append(el("p", {}, "Schema ", el("code", {}, name)));
  box.append(el("pre", {}, JSON.stringify(s, null, 2)));
  return box;
}
function operation(doc, path, method, op) {
  const head = el("summary", {},
    el("span", { class: "method " + method }, method.toUpperCase()),
    el("span", { class: "path" }, path),
    el("span", {}, op.summary || ""),
    op.security ? el("span", { class: "lock", title: "needs the admin token" }, "\\u{1F512}") : "");
  const body = el("div", { class: "body" });
  if (op.description && op.description !== op.summary) body.append(el("p", {}, op.description));
  body.append(el("p", { class: "muted" }, "operationId: ", el("code", {}, op.operationId || "-")));
  if (op.parameters && op.parameters.length) {
    body.append(el("h4", {}, "Parameters"), table(["name", "in", "required", "type"],
      op.parameters.map((p) => [p.name, p.in, p.required ? "yes" : "no",
        (p.schema && (p.schema.type || JSON.stringify(p.schema))) || ""])));
  }
  if (op.requestBody) {
    const media = op.requestBody.content["application/json"];
    body.append(el("h4", {}, "Body" + (op.requestBody.required ? "" : " (optional)")),
      schemaBlock(doc, media.schema));
  }
  const answers = Object.entries(op.responses || {}).map(([code, r]) => [code, r.description]);
  body.append(el("h4", {}, "Answers"), table(["status", "meaning"], answers));
  for (const [code, r] of Object.entries(op.responses || {})) {
    const media = r.content && r.content["application/json"];
    if (code.startsWith("2") && media && media.schema && Object.keys(media.schema).length) {
      body.append(el("h4", {}, code + " body"), schemaBlock(doc, media.schema));
    }
  }
  return el("details", {}, head, body);
}
function render(doc) {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  const main = document.getElementById("operations");
  main.replaceChildren();
  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const name = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(name)) byTag.set(name, { tag: { name }, ops: [] });
      byTag.get(name).ops.push(operation(doc, path, method, op));
    }
  }
  for (const { tag, ops } of byTag.values()) {
    if (!ops.length) continue;
    main.append(el("h2", { id: "tag-" + tag.name }, tag.name));
    if (tag.description) main.append(el("p", { class: "muted" }, tag.description));
    main.append(...ops);
  }
}
fetch("/api/openapi.json")
  .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
  .then(render)
  .catch((err) => {
    document.getElementById("operations").replaceChildren(
      el("p", {}, "Could not load /api/openapi.json: " + err.message));
  });
</script>
</body>
</html>
"""

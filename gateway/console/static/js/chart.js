// A small SVG line chart: time on x, kW on y, one line per series. A null value is a gap in
// the line (a missing sample is never drawn as 0). Labels are SVG text nodes (textContent).

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(span, ticks) {
  const raw = span / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

function clock(t) {
  return new Date(t).toISOString().slice(11, 19);
}

export function lineChart({ series, width = 860, height = 260, unit = "kW", name = "" }) {
  const pad = { left: 56, right: 14, top: 12, bottom: 26 };
  const all = series.flatMap((s) => s.points);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
                            "aria-label": `${name} chart`, "data-chart": name });
  const present = all.filter(([, v]) => v !== null && v !== undefined);
  if (!present.length) {
    root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" },
      "No samples stored yet"));
    return root;
  }
  const ts = all.map(([t]) => t);
  let [t0, t1] = [Math.min(...ts), Math.max(...ts)];
  if (t0 === t1) { t0 -= 5000; t1 += 5000; }
  const vs = present.map(([, v]) => v);
  let [v0, v1] = [Math.min(0, ...vs), Math.max(...vs)];
  if (v0 === v1) v1 = v0 + 1;
  const step = niceStep(v1 - v0, 5);
  v0 = Math.floor(v0 / step) * step;
  v1 = Math.ceil(v1 / step) * step;
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - v0) / (v1 - v0)) * (height - pad.top - pad.bottom);

  for (let v = v0; v <= v1 + step / 2; v += step) {
    root.append(svg("line", { class: "grid-line", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
    root.append(svg("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" },
      `${Number(v.toFixed(3))} ${unit}`));
  }
  const tickCount = Math.min(6, Math.max(2, Math.floor((width - pad.left) / 140)));
  for (let i = 0; i <= tickCount; i += 1) {
    const t = t0 + ((t1 - t0) * i) / tickCount;
    root.append(svg("text", { x: x(t), y: height - 8, "text-anchor": i === 0 ? "start" : i === tickCount ? "end" : "middle" }, clock(t)));
  }
  root.append(svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0) }));

  for (const s of series) {
    let d = "";
    let pen = false;
    for (const [t, v] of s.points) {
      if (v === null || v === undefined) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    const line = svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2,
                               "stroke-linejoin": "round", "data-series": s.name });
    if (s.dashed) line.setAttribute("stroke-dasharray", "6 4");
    root.append(line);
    // A lone point between two gaps has no segment: mark every point when there are few.
    if (s.points.length <= 60) {
      for (const [t, v] of s.points) {
        if (v !== null && v !== undefined) root.append(svg("circle", { cx: x(t), cy: y(v), r: 2.2, fill: s.color }));
      }
    }
  }
  return root;
}

export function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = s.color;
    item.append(swatch, s.name);
    box.append(item);
  }
  return box;
}

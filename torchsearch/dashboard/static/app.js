// torchsearch dashboard: polls the JSON API and draws tables and SVG charts. No dependencies.
// Every string from the study (names, params, errors) reaches the page as text (textContent,
// createTextNode), never as markup.
"use strict";
(() => {
  const POLL_MS = 3000;
  const SVGNS = "http://www.w3.org/2000/svg";
  const STATES = ["running", "completed", "stopped", "failed", "interrupted", "paused", "finished", "idle"];
  const S = { studies: [], id: null, study: null, trials: [], curves: null, lineage: [], metric: null,
    pbtParam: null, sort: { key: "number", dir: 1 }, selected: null, timer: null, busy: false, gen: 0,
    importance: null, importanceKey: null };
  const $ = (id) => document.getElementById(id);

  // -- DOM helpers ----------------------------------------------------------------------------
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k === "onclick") e.addEventListener("click", v); else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  function sv(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function titled(node, text) { node.append(sv("title", {}, text)); return node; }
  function badge(state) {
    return el("span", { class: "badge " + (STATES.includes(state) ? state : "other"), text: String(state) });
  }

  // -- formatting -----------------------------------------------------------------------------
  function num(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return String(Number(v.toPrecision(4)));
  }
  function val(v) {
    if (typeof v === "number") return num(v);
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }
  function dur(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(Math.round(s % 60)).padStart(2, "0") + " s";
    return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }
  const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "–");
  const params = (p) => Object.entries(p || {}).map(([k, v]) => k + "=" + val(v)).join(", ");
  const color = (n) => "hsl(" + ((n * 137.508) % 360).toFixed(1) + ",62%,45%)";
  function ramp(t) { // poor (0) -> good (1): purple, teal, yellow-green
    const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [190, 220, 40]];
    const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2);
    const f = x - i, c = stops[i].map((a, j) => Math.round(a + f * (stops[i + 1][j] - a)));
    return "rgb(" + c.join(",") + ")";
  }

  // -- data -----------------------------------------------------------------------------------
  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  }
  function setStatus(text, bad) { const s = $("status"); s.textContent = text; s.className = bad ? "error" : "muted"; }

  async function refresh() {
    if (S.busy) return;
    S.busy = true;
    clearTimeout(S.timer);
    const gen = ++S.gen;
    try {
      S.studies = await getJSON("/api/studies");
      if (S.id === null || !S.studies.some((s) => s.id === S.id)) {
        const m = /^#study=(\d{1,9})$/.exec(location.hash);
        const want = m ? Number(m[1]) : null;
        const pick = S.studies.find((s) => s.id === want) || S.studies[S.studies.length - 1];
        S.id = pick ? pick.id : null;
      }
      renderStudies();
      if (S.id !== null) {
        const base = "/api/studies/" + S.id;
        const [study, trials, lineage] = await Promise.all(
          [getJSON(base), getJSON(base + "/trials"), getJSON(base + "/lineage")]);
        if (!S.metric || !study.metrics.includes(S.metric)) S.metric = study.metric;
        const curves = await getJSON(base + "/curves?metric=" + encodeURIComponent(S.metric));
        // importance fits a forest: asked again only when a trial got a value
        const key = S.id + ":" + trials.filter((t) => t.value !== null).map((t) => t.number).join(",");
        const importance = key === S.importanceKey ? S.importance : await getJSON(base + "/importance");
        if (gen !== S.gen) return;
        Object.assign(S, { study, trials, lineage, curves, importance, importanceKey: key });
        renderStudy();
        if (S.selected !== null) await renderDetail();
      }
      setStatus("updated " + new Date().toLocaleTimeString() + " · refreshes every " + POLL_MS / 1000 + " s");
    } catch (e) {
      setStatus("cannot reach the dashboard server (" + e.message + "); retrying", true);
    } finally {
      if (gen === S.gen) { // a newer refresh (refreshSoon) owns the timer otherwise
        S.busy = false;
        S.timer = setTimeout(refresh, POLL_MS);
      }
    }
  }
  function refreshSoon() { S.gen++; S.busy = false; clearTimeout(S.timer); refresh(); }

  // -- studies --------------------------------------------------------------------------------
  function renderStudies() {
    const body = $("studies").tBodies[0];
    body.replaceChildren();
    $("no-studies").hidden = S.studies.length > 0;
    for (const s of S.studies) {
      const counts = Object.entries(s.counts).map(([k, n]) => n + " " + k).join(" · ") || "none yet";
      const tr = el("tr", { class: s.id === S.id ? "selected" : "", onclick: () => selectStudy(s.id) },
        el("td", { text: s.name }), el("td", {}, badge(s.status)), el("td", { text: s.scheduler || "–" }),
        el("td", { text: s.metric + " (" + s.mode + ")" }), el("td", { text: s.n_trials + ": " + counts }),
        el("td", { class: "num", text: s.best ? num(s.best.value) + " (#" + s.best.number + ")" : "–" }),
        el("td", { text: s.best ? params(s.best.params) : "–", title: s.best ? params(s.best.params) : "" }),
        el("td", { class: "num", text: dur(s.elapsed_s) }), el("td", { text: when(s.created) }));
      tr.dataset.study = String(s.id);
      body.append(tr);
    }
  }
  function selectStudy(id) {
    if (id === S.id) return;
    Object.assign(S, { id, metric: null, pbtParam: null, selected: null });
    history.replaceState(null, "", "#study=" + id);
    $("detail").hidden = true;
    refreshSoon();
  }

  function renderStudy() {
    const s = S.study;
    $("study").hidden = false;
    $("study-title").textContent = "Study " + s.name;
    const item = (label, ...kids) => el("div", { class: "item" }, el("b", { text: label }), ...kids);
    const counts = Object.entries(s.counts).map(([k, n]) => n + " " + k).join(", ") || "none yet";
    $("summary").replaceChildren(
      item("status", badge(s.status), s.end_reason ? " " + s.end_reason : ""),
      item("scheduler", s.scheduler || "–"), item("metric", s.metric + " (" + s.mode + ")"),
      item("trials", s.n_trials + ": " + counts),
      item("best", s.best ? num(s.best.value) + " (trial " + s.best.number + ")" : "–"),
      item("best params", s.best ? params(s.best.params) : "–"),
      item("elapsed", dur(s.elapsed_s)), item("created", when(s.created)));
    const sel = $("metric");
    if (sel.dataset.key !== s.metrics.join("\n")) {
      sel.replaceChildren(...s.metrics.map((m) => el("option", { value: m, text: m })));
      sel.dataset.key = s.metrics.join("\n");
    }
    sel.value = S.metric;
    renderTrials();
    drawCurves();
    drawBest();
    drawImportance();
    drawParallel();
    drawPBT();
  }

  // -- trial table ----------------------------------------------------------------------------
  function paramNames() {
    const names = Object.keys(S.study.space || {});
    for (const t of S.trials) for (const k of Object.keys(t.params)) if (!names.includes(k)) names.push(k);
    return names;
  }
  function columns() {
    const cols = [{ key: "number", label: "#", get: (t) => t.number, num: true },
      { key: "state", label: "state", get: (t) => t.state, cell: (t) => badge(t.state) }];
    for (const p of paramNames()) {
      cols.push({ key: "p:" + p, label: p, get: (t) => t.params[p], num: true, fmt: val });
    }
    cols.push({ key: "value", label: "best " + S.study.metric, get: (t) => t.value, num: true },
      { key: "last", label: "last", get: (t) => t.last, num: true },
      { key: "epochs", label: "epochs", get: (t) => t.epochs, num: true },
      { key: "duration", label: "duration", get: (t) => t.duration_s, num: true, fmt: dur },
      { key: "hand", label: "by hand", get: (t) => (t.queued ? "queued" : "") + (t.queued && t.n_notes ? ", " : "") +
        (t.n_notes ? t.n_notes + (t.n_notes > 1 ? " notes" : " note") : "") },
      { key: "why", label: "stop reason / error", get: (t) => t.error || t.stop_reason || "" });
    return cols;
  }
  function compare(a, b) {
    const na = a === null || a === undefined, nb = b === null || b === undefined;
    if (na || nb) return na === nb ? 0 : na ? 1 : -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }
  function renderTrials() {
    const cols = columns(), table = $("trials");
    const col = cols.find((c) => c.key === S.sort.key) || cols[0];
    const head = el("tr", {}, ...cols.map((c) => {
      const arrow = c.key === col.key ? (S.sort.dir > 0 ? " ▲" : " ▼") : "";
      return el("th", { class: c.key === col.key ? "sorted" : "", text: c.label + arrow, onclick: () => {
        S.sort = { key: c.key, dir: S.sort.key === c.key ? -S.sort.dir : 1 };
        renderTrials();
      } });
    }));
    table.tHead.replaceChildren(head);
    const rows = [...S.trials].sort((a, b) => {
      const c = compare(col.get(a), col.get(b));
      return c === 0 ? a.number - b.number : (col.get(a) == null || col.get(b) == null ? c : c * S.sort.dir);
    });
    const body = el("tbody");
    for (const t of rows) {
      const tr = el("tr", { class: t.number === S.selected ? "selected" : "", onclick: () => selectTrial(t.number) },
        ...cols.map((c) => {
          if (c.cell) return el("td", {}, c.cell(t));
          const v = c.get(t);
          const text = v === undefined ? "" : c.fmt ? c.fmt(v) : typeof v === "number" ? num(v) : v === null ? "–" : String(v);
          return el("td", { class: typeof v === "number" ? "num" : "", text, title: text });
        }));
      tr.dataset.trial = String(t.number);
      body.append(tr);
    }
    table.tBodies[0].replaceWith(body);
  }
  function selectTrial(n) {
    S.selected = S.selected === n ? null : n;
    if (S.selected === null) { $("detail").hidden = true; } else { renderDetail(); }
    renderTrials(); drawCurves(); drawBest(); drawParallel();
  }

  async function renderDetail() {
    const n = S.selected, id = S.id;
    let t;
    try { t = await getJSON("/api/studies/" + id + "/trials/" + n); } catch (e) { return; }
    if (n !== S.selected || id !== S.id) return;
    const kv = (rows) => el("table", { class: "grid small" },
      el("tbody", {}, ...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v, title: v })))));
    const body = [];
    if (t.notes.length) {
      body.push(el("h4", { text: "Notes" }), kv(t.notes.map((m) => [when(m.time), m.text])));
    }
    body.push(el("h4", { text: "Hyperparameters" + (t.queued ? " (queued by hand)" : "") }),
      kv(Object.entries(t.params).map(([k, v]) => [k, val(v)])),
      el("h4", { text: "Result" }), kv([["state", t.state], ["best " + S.study.metric, num(t.value)],
        ["best at step", num(t.best_step)], ["last", num(t.last)], ["epochs", num(t.epochs)],
        ["started", when(t.started)], ["ended", when(t.ended)], ["duration", dur(t.duration_s)],
        ["stop code", t.stop_code || "–"], ["stop reason", t.stop_reason || "–"]]));
    const metrics = Object.entries(t.metrics);
    if (metrics.length) {
      body.push(el("h4", { text: "Metrics (last value, points)" }),
        kv(metrics.map(([k, pts]) => [k, num(pts[pts.length - 1][1]) + "  (" + pts.length + " points)"])));
    }
    if (t.error) body.push(el("h4", { text: "Error" }), el("pre", { text: t.error }));
    if (t.traceback) body.push(el("h4", { text: "Traceback" }), el("pre", { text: t.traceback }));
    if (t.lineage.length) {
      body.push(el("h4", { text: "PBT events" }), kv(t.lineage.map((e) =>
        ["step " + e.step, (e.donor === null ? "" : "copied trial " + e.donor + ": ") + e.operations.join("; ")])));
    }
    $("detail-title").replaceChildren("Trial " + t.number + " ", badge(t.state));
    $("detail-body").replaceChildren(...body);
    $("detail").hidden = false;
  }

  // -- chart helpers --------------------------------------------------------------------------
  function scale(lo, hi, a, b, log) {
    if (log && lo > 0 && hi > 0) {
      const l0 = Math.log(lo), l1 = Math.log(hi) === l0 ? l0 + 1 : Math.log(hi);
      return (v) => a + ((Math.log(v) - l0) / (l1 - l0)) * (b - a);
    }
    if (hi === lo) { lo -= 0.5; hi += 0.5; }
    return (v) => a + ((v - lo) / (hi - lo)) * (b - a);
  }
  function ticks(lo, hi, n, log) {
    if (log && lo > 0) {
      const out = [];
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        const v = 10 ** e; if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
      return out.length >= 2 ? out : [lo, hi];
    }
    if (hi === lo) return [lo];
    const step0 = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(step0));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }
  function extent(values) {
    const f = values.filter((v) => typeof v === "number" && Number.isFinite(v));
    return f.length ? [Math.min(...f), Math.max(...f)] : null;
  }
  function frame(W, H, m, xs, ys, xLabel, yLabel) { // axes with ticks; returns the svg
    const g = sv("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    const ax = sv("g", { class: "axis" });
    for (const v of ys.ticks) {
      const y = ys.f(v);
      g.append(sv("line", { class: "gridline", x1: m.l, x2: W - m.r, y1: y, y2: y }));
      ax.append(sv("text", { x: m.l - 6, y: y + 4, "text-anchor": "end" }, num(v)));
    }
    for (const v of xs.ticks) ax.append(sv("text", { x: xs.f(v), y: H - m.b + 16, "text-anchor": "middle" }, num(v)));
    ax.append(sv("path", { d: "M" + m.l + "," + m.t + "V" + (H - m.b) + "H" + (W - m.r) }));
    ax.append(sv("text", { class: "label", x: (m.l + W - m.r) / 2, y: H - 4, "text-anchor": "middle" }, xLabel));
    ax.append(sv("text", { class: "label", x: 12, y: (m.t + H - m.b) / 2, "text-anchor": "middle",
      transform: "rotate(-90 12 " + (m.t + H - m.b) / 2 + ")" }, yLabel));
    g.append(ax);
    return g;
  }
  function empty(box, W, H, text) {
    box.replaceChildren(sv("svg", { viewBox: "0 0 " + W + " " + H }, ""));
    box.firstChild.append(sv("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, text));
  }
  function axisScale(lo, hi, a, b, log) {
    return { f: scale(lo, hi, a, b, log), ticks: ticks(lo, hi, 5, log) };
  }
  const focus = (n) => (S.selected === null ? "" : n === S.selected ? " hl" : " dim");

  // -- charts ---------------------------------------------------------------------------------
  function drawCurves() {
    const box = $("chart-curves"), W = 560, H = 300, m = { l: 56, r: 12, t: 10, b: 38 };
    const curves = S.curves ? S.curves.curves : [];
    const pts = curves.flatMap((c) => c.points);
    const xe = extent(pts.map((p) => p[0])), ye = extent(pts.map((p) => p[1]));
    if (!xe || !ye) return empty(box, W, H, "no " + (S.metric || "metric") + " reported yet");
    const xs = axisScale(xe[0], xe[1], m.l, W - m.r), ys = axisScale(ye[0], ye[1], H - m.b, m.t);
    const g = frame(W, H, m, xs, ys, "epoch", S.curves.metric);
    for (const r of S.curves.rungs || []) { // where a pruner compared trials: pruned there, or waiting to be promoted
      const x = xs.f(r);
      g.append(titled(sv("line", { class: "rung", x1: x, x2: x, y1: m.t, y2: H - m.b }), "rung: epoch " + r));
    }
    const ordered = [...curves].sort((a, b) => (a.number === S.selected) - (b.number === S.selected));
    for (const c of ordered) {
      let d = "", pen = "M";
      for (const [x, y] of c.points) {
        if (y === null) { pen = "M"; continue; }
        d += pen + xs.f(x).toFixed(1) + "," + ys.f(y).toFixed(1); pen = "L";
      }
      if (c.points.length === 1 && d) d += "h0.01";
      const path = sv("path", { class: "curve" + focus(c.number), d, stroke: color(c.number) });
      path.addEventListener("click", () => selectTrial(c.number));
      g.append(titled(path, "trial " + c.number + " (" + c.state + ")"));
      const last = c.points[c.points.length - 1];
      if (c.stop_code === "pruned" && last && last[1] !== null) { // a cross where it was pruned
        const x = xs.f(last[0]), y = ys.f(last[1]);
        g.append(titled(sv("path", { class: "pruned-mark" + focus(c.number), stroke: color(c.number),
          d: "M" + (x - 3) + "," + (y - 3) + "l6,6m0,-6l-6,6" }), "trial " + c.number + " pruned at epoch " + last[0]));
      }
    }
    box.replaceChildren(g);
  }

  function drawImportance() {
    const box = $("chart-importance"), imp = S.importance, W = 560, m = { l: 130, r: 48, t: 8 };
    if (!imp || !imp.shares) return empty(box, W, 120, imp && imp.why ? imp.why.replace(/^importance: /, "") : "–");
    const rows = Object.entries(imp.shares), H = m.t + 26 * rows.length + 8, bw = W - m.l - m.r;
    const g = sv("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    rows.forEach(([name, share], i) => {
      const y = m.t + 26 * i;
      g.append(sv("text", { class: "label", x: m.l - 8, y: y + 15, "text-anchor": "end" },
        name.length > 18 ? name.slice(0, 17) + "…" : name));
      g.append(titled(sv("rect", { class: "bar", x: m.l, y: y + 3, height: 16,
        width: Math.max(1, bw * Math.max(0, Math.min(1, share))).toFixed(1) }), name + ": " + num(share)));
      g.append(sv("text", { x: m.l + bw * Math.max(0, Math.min(1, share)) + 4, y: y + 15 }, share.toFixed(2)));
    });
    box.replaceChildren(g);
  }

  function drawBest() {
    const box = $("chart-best"), W = 560, H = 300, m = { l: 56, r: 12, t: 10, b: 38 };
    const max = S.study.mode === "max", done = S.trials.filter((t) => t.value !== null);
    const ye = extent(done.map((t) => t.value)), xe = extent(S.trials.map((t) => t.number));
    if (!ye || !xe) return empty(box, W, H, "no trial with a value yet");
    const xs = axisScale(xe[0], Math.max(xe[1], xe[0] + 1), m.l, W - m.r), ys = axisScale(ye[0], ye[1], H - m.b, m.t);
    const g = frame(W, H, m, xs, ys, "trial number", "best " + S.study.metric);
    let best = null, d = "";
    for (const t of [...S.trials].sort((a, b) => a.number - b.number)) {
      const ok = t.value !== null && (t.state === "completed" || t.state === "stopped");
      if (ok && (best === null || (max ? t.value > best : t.value < best))) {
        d += (d ? "H" + xs.f(t.number).toFixed(1) + "V" : "M" + xs.f(t.number).toFixed(1) + ",") + ys.f(t.value).toFixed(1);
        best = t.value;
      }
    }
    if (d) g.append(sv("path", { class: "best-line", d: d + "H" + xs.f(xe[1]).toFixed(1) }));
    for (const t of S.trials) {
      const y = t.value === null ? H - m.b : ys.f(t.value);
      const dot = sv("circle", { class: "dot" + (t.value === null ? " fail" : ""), cx: xs.f(t.number), cy: y,
        r: t.number === S.selected ? 6 : 3.5, fill: color(t.number) });
      dot.addEventListener("click", () => selectTrial(t.number));
      g.append(titled(dot, "trial " + t.number + ": " + num(t.value) + " (" + t.state + ")"));
    }
    box.replaceChildren(g);
  }

  function paramAxis(name, spec, values, y0, y1) { // {f(value) -> y, ticks: [[value, label]]}
    const nums = values.filter((v) => typeof v === "number");
    const categorical = spec ? spec.type === "Choice" : nums.length !== values.length;
    if (categorical) {
      const cats = spec && spec.type === "Choice" ? [...spec.values] : [];
      for (const v of values) if (!cats.some((c) => JSON.stringify(c) === JSON.stringify(v))) cats.push(v);
      const idx = (v) => cats.findIndex((c) => JSON.stringify(c) === JSON.stringify(v));
      const f = (v) => (cats.length < 2 ? (y0 + y1) / 2 : y0 + (idx(v) / (cats.length - 1)) * (y1 - y0));
      return { f, ticks: cats.map((c) => [c, val(c)]) };
    }
    let lo = spec && "low" in spec ? spec.low : Math.min(...nums), hi = spec && "high" in spec ? spec.high : Math.max(...nums);
    const e = extent(nums);
    if (e) { lo = Math.min(lo, e[0]); hi = Math.max(hi, e[1]); }
    const log = !!spec && (spec.log || spec.type === "PowerOfTwo");
    const f = scale(lo, hi, y0, y1, log);
    let tv = ticks(lo, hi, 5, log);
    if (spec && spec.type === "PowerOfTwo") {
      tv = [];
      for (let v = lo; v <= hi; v *= 2) tv.push(v);
      while (tv.length > 7) tv = tv.filter((_, i) => i % 2 === 0);
    }
    return { f, ticks: tv.map((v) => [v, num(v)]) };
  }

  function drawParallel() {
    const box = $("chart-parallel"), W = 1140, H = 320, m = { l: 60, r: 80, t: 28, b: 14 };
    const names = paramNames(), trials = S.trials;
    if (!trials.length) return empty(box, W, H, "no trial yet");
    const axes = names.map((n) => ({ name: n, ...paramAxis(n, (S.study.space || {})[n], trials.map((t) => t.params[n]), H - m.b, m.t) }));
    const ve = extent(trials.map((t) => t.value));
    if (ve) axes.push({ name: S.study.metric, metric: true, ...paramAxis(null, { type: "Float", low: ve[0], high: ve[1] }, [], H - m.b, m.t) });
    const step = (W - m.l - m.r) / Math.max(1, axes.length - 1), x = (i) => m.l + i * step;
    const g = sv("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    const ordered = [...trials].sort((a, b) => (a.value !== null) - (b.value !== null) || (a.number === S.selected) - (b.number === S.selected));
    for (const t of ordered) {
      const pts = axes.map((a, i) => {
        const v = a.metric ? t.value : t.params[a.name];
        return v === undefined || v === null && a.metric ? null : [x(i), a.f(v)];
      }).filter((p) => p && Number.isFinite(p[1]));
      if (pts.length < 2) continue;
      const good = ve ? (t.value === null ? null : (t.value - ve[0]) / (ve[1] - ve[0] || 1)) : null;
      const line = sv("polyline", { class: "pc" + (good === null ? " none" : t.state === "failed" ? " failed" : "") + focus(t.number),
        points: pts.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" "),
        stroke: good === null ? "#b9bec7" : ramp(S.study.mode === "max" ? good : 1 - good) });
      line.addEventListener("click", () => selectTrial(t.number));
      g.append(titled(line, "trial " + t.number + ": " + num(t.value) + " · " + params(t.params)));
    }
    axes.forEach((a, i) => {
      const ax = sv("g", { class: "axis" });
      ax.append(sv("line", { x1: x(i), x2: x(i), y1: m.t, y2: H - m.b }));
      for (const [v, label] of a.ticks) {
        ax.append(sv("line", { x1: x(i) - 3, x2: x(i) + 3, y1: a.f(v), y2: a.f(v) }));
        const tick = sv("text", { x: x(i) + 6, y: a.f(v) + 4 }, label.length > 22 ? label.slice(0, 21) + "…" : label);
        ax.append(label.length > 22 ? titled(tick, label) : tick);
      }
      ax.append(sv("text", { class: "label", x: x(i), y: m.t - 12, "text-anchor": "middle" }, a.name));
      g.append(ax);
    });
    box.replaceChildren(g);
  }

  function drawPBT() {
    const events = S.lineage, box = $("chart-pbt"), W = 1140, H = 300, m = { l: 60, r: 16, t: 10, b: 38 };
    $("pbt-empty").hidden = events.length > 0;
    $("pbt-param").parentElement.hidden = events.length === 0;
    $("lineage").hidden = events.length === 0;
    if (!events.length) { box.replaceChildren(); return; }
    const changed = paramNames().filter((p) => events.some((e) => JSON.stringify(e.old_params[p]) !== JSON.stringify(e.new_params[p])));
    const choices = changed.length ? changed : paramNames();
    const sel = $("pbt-param");
    if (sel.dataset.key !== choices.join("\n")) {
      sel.replaceChildren(...choices.map((p) => el("option", { value: p, text: p })));
      sel.dataset.key = choices.join("\n");
    }
    if (!choices.includes(S.pbtParam)) S.pbtParam = choices[0];
    sel.value = S.pbtParam;
    const p = S.pbtParam, byTrial = new Map();
    for (const e of events) { if (!byTrial.has(e.trial)) byTrial.set(e.trial, []); byTrial.get(e.trial).push(e); }
    const series = S.trials.map((t) => { // [[step, value]...] piecewise constant
      const evs = byTrial.get(t.number) || [], end = Math.max(t.epochs || 0, ...evs.map((e) => e.step));
      const pts = [[0, evs.length ? evs[0].old_params[p] : t.params[p]]];
      for (const e of evs) pts.push([e.step, e.new_params[p]]);
      return { t, evs, pts, end };
    });
    const all = series.flatMap((s) => s.pts.map((q) => q[1]));
    const xe = [0, Math.max(1, ...series.map((s) => s.end))];
    const ax = paramAxis(p, (S.study.space || {})[p], all, H - m.b, m.t);
    const xs = axisScale(xe[0], xe[1], m.l, W - m.r);
    const g = frame(W, H, m, xs, { f: ax.f, ticks: [] }, "step (epoch)", p);
    for (const [v, label] of ax.ticks) g.append(sv("text", { x: m.l - 6, y: ax.f(v) + 4, "text-anchor": "end" }, label));
    for (const s of series) {
      let d = "";
      s.pts.forEach(([x, v], i) => {
        const X = xs.f(x).toFixed(1), Y = ax.f(v).toFixed(1);
        d += i === 0 ? "M" + X + "," + Y : "H" + X + "V" + Y;
      });
      d += "H" + xs.f(s.end).toFixed(1);
      const path = sv("path", { class: "curve" + focus(s.t.number), d, stroke: color(s.t.number) });
      path.addEventListener("click", () => selectTrial(s.t.number));
      g.append(titled(path, "trial " + s.t.number));
      for (const e of s.evs) {
        const X = xs.f(e.step);
        g.append(sv("line", { class: "jump", x1: X, x2: X, y1: ax.f(e.old_params[p]), y2: ax.f(e.new_params[p]) }));
        const dot = sv("circle", { class: "exploit", cx: X, cy: ax.f(e.new_params[p]), r: 4, fill: color(s.t.number) });
        g.append(titled(dot, "step " + e.step + ": trial " + e.trial + (e.donor === null ? "" : " copied trial " + e.donor)
          + " · " + e.operations.join("; ")));
      }
    }
    box.replaceChildren(g);
    const rows = [...events].reverse().slice(0, 200).map((e) => el("tr", {}, el("td", { class: "num", text: String(e.step) }),
      el("td", { class: "num", text: String(e.trial) }), el("td", { class: "num", text: e.donor === null ? "–" : String(e.donor) }),
      el("td", { text: e.operations.join("; "), title: e.operations.join("; ") })));
    $("lineage").tBodies[0].replaceChildren(...rows);
  }

  // -- wiring ---------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("metric").addEventListener("change", (e) => { S.metric = e.target.value; refreshSoon(); });
    $("pbt-param").addEventListener("change", (e) => { S.pbtParam = e.target.value; drawPBT(); });
    $("detail-close").addEventListener("click", () => { S.selected = null; $("detail").hidden = true; renderStudy(); });
    refresh();
  });
})();

// llmo admin UI: a small hash-routed app over the admin JSON API. No build
// step, no framework, no network beyond this gateway. Every value from the
// API is put in the page as text (never as HTML), and the admin key lives in
// sessionStorage only.
"use strict";

const KEY = "llmo_admin_key";
const API = "../admin";
const adminKey = sessionStorage.getItem(KEY);
if (!adminKey) location.replace("login.html");

// ---------------------------------------------------------------- helpers

/** Creates an element: h("td", {class: "num"}, "12"). Children are text or nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || "HTTP " + status);
    this.status = status;
    this.param = e.param || null;
    this.code = e.code || null;
  }
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + adminKey } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, opts);
  let data = null;
  try { data = await res.json(); } catch (_) { /* empty body */ }
  if (res.status === 401) {
    sessionStorage.removeItem(KEY);
    location.replace("login.html?expired=1");
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function toast(msg, kind) {
  const t = h("div", { class: "toast " + (kind || "") }, msg);
  const box = document.getElementById("toasts");
  while (box.children.length >= 3) box.firstChild.remove();
  box.append(t);
  setTimeout(() => t.remove(), kind === "bad" ? 7000 : 3500);
}

const enc = encodeURIComponent;
const fmtInt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const fmtMs = (n) => (n === null || n === undefined ? "–" : n >= 10000 ? (n / 1000).toFixed(1) + " s" : Math.round(n) + " ms");
const fmtPct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(x < 0.1 && x > 0 ? 2 : 1) + "%");
function fmtCompact(n) {
  if (n === null || n === undefined) return "–";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + "B";
  if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (a < 10 && !Number.isInteger(n)) return n.toFixed(1);
  return fmtInt(Math.round(n));
}
function fmtTime(ms) {
  if (!ms) return "–";
  const d = typeof ms === "string" ? new Date(ms) : new Date(ms);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
function ago(iso) {
  if (!iso) return "never";
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}
function statusBadge(st) {
  const cls = st >= 500 ? "bad" : st >= 400 ? "warn" : "ok";
  return h("span", { class: "badge " + cls }, st);
}
function stateBadge(state) {
  const cls = state === "closed" ? "ok" : state === "open" ? "bad" : state === "half_open" ? "warn" : "";
  const label = state === "closed" ? "healthy (closed)" : state === "open" ? "open (failing)" : state === "half_open" ? "half-open (probing)" : state || "unknown";
  return h("span", { class: "badge " + cls }, label);
}

function pageHead(title, sub, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, title), sub ? h("p", { class: "sub muted" }, sub) : null),
    h("div", { class: "toolbar" }, ...actions));
}

function empty(title, text, action) {
  return h("div", { class: "empty" }, h("strong", {}, title), h("div", {}, text), action ? h("div", { class: "empty-action" }, action) : null);
}

/** The header of a row-actions column: pinned to the card's right edge. */
const ACT = { label: "", cls: "act" };

/** A table in a card that scrolls sideways when the table cannot fit. */
function table(headers, rows) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("thead", {}, h("tr", {}, headers.map((x) => (typeof x === "string" ? h("th", {}, x) : h("th", { class: x.cls }, x.label))))),
      h("tbody", {}, rows)));
}

/** A form field with a slot for the API's validation message. */
function field(name, label, input, help, wide) {
  input.id = "f-" + name;
  input.name = name;
  return h("div", { class: "field" + (wide ? " wide" : ""), "data-field": name },
    h("label", { for: input.id }, label), input,
    help ? h("div", { class: "help" }, help) : null,
    h("p", { class: "field-error", id: "err-" + name, role: "alert", hidden: true }));
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((e) => { e.hidden = true; e.textContent = ""; });
  form.querySelectorAll(".invalid").forEach((e) => e.classList.remove("invalid"));
  const fe = form.querySelector(".form-error");
  if (fe) fe.remove();
}

/** Shows an API error next to the field it names, or above the buttons. */
function showError(form, err) {
  const slot = err.param && form.querySelector("#err-" + CSS.escape(err.param));
  if (slot) {
    slot.textContent = err.message;
    slot.hidden = false;
    const input = form.querySelector('[name="' + CSS.escape(err.param) + '"]');
    if (input) { input.classList.add("invalid"); input.focus(); }
  } else {
    const actions = form.querySelector(".form-actions");
    form.insertBefore(h("p", { class: "form-error", role: "alert" }, err.message), actions);
  }
}

function num(v) {
  v = String(v).trim();
  if (v === "") return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : v; // a non-number is sent as is: the API names the field
}
const list = (v) => String(v).split(",").map((x) => x.trim()).filter(Boolean);

function openDrawer(title, body) {
  document.getElementById("drawer-title").textContent = title;
  const b = document.getElementById("drawer-body");
  b.replaceChildren(body);
  document.getElementById("drawer").hidden = false;
  document.getElementById("drawer-close").focus();
}
function closeDrawer() { document.getElementById("drawer").hidden = true; }

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? "–" : v)]));
}

// ---------------------------------------------------------------- charts

/** A round number at or above v (1, 2, 2.5, 5 × 10^k), for the y axis. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

/** A small chart: bars (counts) or a line (rates, latency). The plot is an
 * SVG stretched to the card; the axis labels are HTML so text never skews. */
function chart(title, points, valueOf, opts) {
  const W = 600, H = 120;
  const vals = points.map(valueOf);
  let top = niceMax(Math.max(opts.minMax || 0, ...vals, 0));
  if (opts.cap) top = Math.min(top, opts.cap);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  const y = (v) => H * (1 - v / top);
  for (const f of [0, 0.5, 1]) {
    svg.append(s("line", { class: "grid", x1: 0, x2: W, y1: y(top * f), y2: y(top * f), "vector-effect": "non-scaling-stroke" }));
  }
  const n = Math.max(points.length, 1);
  const bw = W / n;
  if (opts.kind === "bar") {
    points.forEach((p, i) => {
      const v = vals[i];
      const r = s("rect", { class: "bar" + (opts.cls ? " " + opts.cls : ""), x: i * bw + bw * 0.12, width: Math.max(bw * 0.76, 1), y: y(v), height: Math.max(H - y(v), v > 0 ? 1 : 0) });
      r.append(s("title", {}, fmtTime(p.ts_ms) + ": " + opts.fmt(v)));
      svg.append(r);
    });
  } else if (points.length) {
    const xy = points.map((p, i) => [i * bw + bw / 2, y(vals[i])]);
    svg.append(s("path", { class: "area", d: `M${xy[0][0]},${H} ` + xy.map(([a, b]) => `L${a},${b}`).join(" ") + ` L${xy[xy.length - 1][0]},${H} Z` }));
    svg.append(s("path", { class: "line" + (opts.cls ? " " + opts.cls : ""), "vector-effect": "non-scaling-stroke", d: xy.map(([a, b], i) => (i ? "L" : "M") + a + "," + b).join(" ") }));
    points.forEach((p, i) => {
      const hit = s("rect", { x: i * bw, width: bw, y: 0, height: H, fill: "transparent" });
      hit.append(s("title", {}, fmtTime(p.ts_ms) + ": " + opts.fmt(vals[i])));
      svg.append(hit);
    });
  }
  const t = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return h("div", { class: "chart" },
    h("h3", {}, h("span", {}, title), h("span", { class: "muted small" }, opts.total || "")),
    h("div", { class: "chart-body" },
      h("div", { class: "y-axis" }, h("span", {}, opts.fmt(top)), h("span", {}, opts.fmt(top / 2)), h("span", {}, opts.fmt(0))),
      h("div", { class: "plot" }, svg)),
    points.length ? h("div", { class: "x-axis" }, h("span", {}, t(points[0].ts_ms)), h("span", {}, t(points[points.length - 1].ts_ms))) : null);
}

// ---------------------------------------------------------------- pages

const view = () => document.getElementById("view");
let overviewRange = "hour";

async function pageOverview() {
  const now = Date.now();
  const span = overviewRange === "hour" ? 3600e3 : 86400e3;
  const from = now - span;
  const step = overviewRange === "hour" ? 1 : 30;
  const [series, stats, health] = await Promise.all([
    api("GET", `/stats/series?from=${from}&to=${now}&step=${step}`),
    api("GET", `/stats?from=${from}&to=${now}`),
    api("GET", "/health?limit=1"),
  ]);
  const pts = series.data;
  const tot = pts.reduce((a, p) => ({ r: a.r + p.requests, e: a.e + p.errors, l: a.l + p.avg_latency_ms * p.requests, t: a.t + p.tokens_in + p.tokens_out }), { r: 0, e: 0, l: 0, t: 0 });
  const minutes = span / 60e3;
  const seg = h("div", { class: "seg", role: "group", "aria-label": "Time range" },
    h("button", { type: "button", class: overviewRange === "hour" ? "on" : "", onclick: () => { overviewRange = "hour"; render(); } }, "Last hour"),
    h("button", { type: "button", class: overviewRange === "day" ? "on" : "", onclick: () => { overviewRange = "day"; render(); } }, "Last 24 hours"));
  const p95 = stats.providers.reduce((m, p) => Math.max(m, p.p95_ms || 0), 0);
  const per = step === 1 ? "per minute" : `per ${step} min`;
  const cards = h("div", { class: "cards" },
    card("Requests", fmtInt(tot.r), (tot.r / minutes).toFixed(2) + " / min on average", "stat-requests"),
    card("Error rate", tot.r ? fmtPct(tot.e / tot.r) : "–", fmtInt(tot.e) + " failed", "stat-errors"),
    card("Avg latency", tot.r ? fmtMs(tot.l / tot.r) : "–", p95 ? "slowest provider p95 " + fmtMs(p95) : "no requests yet", "stat-latency"),
    card("Tokens", fmtCompact(tot.t), "prompt + completion", "stat-tokens"));
  const charts = h("div", { class: "charts" },
    chart("Requests " + per, pts, (p) => p.requests, { kind: "bar", fmt: fmtCompact, total: fmtInt(tot.r) + " total" }),
    chart("Error rate", pts, (p) => (p.requests ? p.errors / p.requests : 0), { kind: "line", cls: "err", fmt: (v) => (v * 100).toFixed(0) + "%", minMax: 0.05, cap: 1 }),
    chart("Avg latency", pts, (p) => p.avg_latency_ms, { kind: "line", fmt: fmtMs }),
    chart("Tokens " + per, pts, (p) => p.tokens_in + p.tokens_out, { kind: "bar", fmt: fmtCompact, total: fmtCompact(tot.t) + " total" }));

  const live = Array.isArray(health.providers) ? health.providers : [];
  const states = new Map();
  for (const e of health.latest || []) states.set(e.provider, e.state);
  for (const p of live) if (p && p.name) states.set(p.name, p.state || p.circuit || states.get(p.name));
  const providers = (await api("GET", "/providers?limit=1000")).data;
  const chips = providers.length
    ? h("div", { class: "chips" }, providers.map((p) => {
      const st = p.enabled ? states.get(p.name) || "closed" : "disabled";
      const cls = st === "closed" ? "ok" : st === "open" ? "bad" : st === "half_open" ? "warn" : "";
      return h("span", { class: "chip", title: st }, h("span", { class: "dot " + cls }), p.name, h("span", { class: "muted small" }, st === "closed" ? "healthy" : st.replace("_", "-")));
    }))
    : empty("No providers yet", "Add one to start routing requests.", h("a", { class: "btn btn-primary", href: "#/providers" }, "Add a provider"));

  const provRows = stats.providers.map((p) => h("tr", {},
    h("td", { class: "name" }, p.provider), h("td", { class: "num" }, fmtInt(p.requests)), h("td", { class: "num" }, fmtPct(p.error_rate)),
    h("td", { class: "num" }, fmtMs(p.avg_latency_ms)), h("td", { class: "num" }, fmtMs(p.p50_ms)), h("td", { class: "num" }, fmtMs(p.p95_ms)),
    h("td", { class: "num" }, fmtCompact(p.tokens_in)), h("td", { class: "num" }, fmtCompact(p.tokens_out))));
  const modelRows = stats.models.map((m) => h("tr", {},
    h("td", { class: "name" }, m.model), h("td", { class: "num" }, fmtInt(m.requests)), h("td", { class: "num" }, fmtPct(m.error_rate)),
    h("td", { class: "num" }, fmtMs(m.avg_latency_ms)), h("td", { class: "num" }, fmtMs(m.p50_ms)), h("td", { class: "num" }, fmtMs(m.p95_ms)),
    h("td", { class: "num" }, fmtCompact(m.tokens_in)), h("td", { class: "num" }, fmtCompact(m.tokens_out))));
  const numH = (l) => ({ label: l, cls: "num" });
  const hdr = (first) => [first, numH("Requests"), numH("Errors"), numH("Avg"), numH("p50"), numH("p95"), numH("Tokens in"), numH("Tokens out")];
  view().replaceChildren(
    pageHead("Overview", "Traffic through this gateway", seg),
    cards, charts,
    h("div", { class: "panel" }, h("h2", {}, "Provider health"), chips),
    h("h2", {}, "By provider"),
    provRows.length ? table(hdr("Provider"), provRows) : h("div", { class: "table-wrap" }, empty("No requests in this range", "Numbers show up here as soon as the gateway serves traffic.")),
    h("p"),
    h("h2", {}, "By model"),
    modelRows.length ? table(hdr("Model"), modelRows) : h("div", { class: "table-wrap" }, empty("No requests in this range", "")),
    h("p", { class: "muted small" }, "p50/p95 are computed over the newest 20,000 requests of the range."));
}

function card(label, value, hint, id) {
  return h("div", { class: "card", id }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), h("div", { class: "hint" }, hint));
}

// ----- paged, searchable lists (providers, models, client keys)

const LIST_PAGE = 50;
/** Per list: the search, and the `after` of each page before the current one. */
const lists = { providers: { q: "", cursors: [] }, models: { q: "", cursors: [] }, keys: { q: "", cursors: [] } };

/** The current page of a catalog list, for its search and position. */
function listPage(name) {
  const st = lists[name];
  const q = new URLSearchParams({ limit: String(LIST_PAGE) });
  if (st.q) q.set("q", st.q);
  const after = st.cursors[st.cursors.length - 1];
  if (after) q.set("after", after);
  return api("GET", "/" + name + "?" + q.toString());
}

/** A list's search box: a search starts again from the first page. */
function searchBox(name, noun) {
  const st = lists[name];
  const input = h("input", { type: "search", id: "search-" + name, value: st.q, placeholder: `Search ${noun}s by name`, "aria-label": `Search ${noun}s by name`, autocomplete: "off" });
  return h("form", { class: "search", role: "search", onsubmit: (ev) => { ev.preventDefault(); st.q = input.value.trim(); st.cursors = []; render(); } },
    input, h("button", { type: "submit", class: "btn" }, "Search"),
    st.q ? h("button", { type: "button", class: "btn btn-ghost", onclick: () => { st.q = ""; st.cursors = []; render(); } }, "Clear") : null);
}

/** Previous / next under a list (pages in name order). */
function listPager(name, page, noun) {
  const st = lists[name];
  const n = st.cursors.length + 1;
  const k = page.data.length;
  return h("div", { class: "pager", id: "pager-" + name },
    h("span", { class: "muted small" }, `Page ${n} · ${k} ${noun}${k === 1 ? "" : "s"}` + (st.q ? ` matching “${st.q}”` : "") + " · by name"),
    h("div", { class: "toolbar" },
      h("button", { type: "button", class: "btn", disabled: n === 1, onclick: () => { st.cursors.pop(); render(); } }, "← Previous"),
      h("button", { type: "button", class: "btn", id: "next-" + name, disabled: !page.next, onclick: () => { st.cursors.push(page.next); render(); } }, "Next →")));
}

/** The empty state of a list: nothing at all, or nothing matching the search. */
function emptyList(name, noun, none) {
  const st = lists[name];
  if (st.q) return h("div", { class: "table-wrap" }, empty(`No ${noun}s match “${st.q}”`, "Names containing the text, in any case, are shown.", h("button", { type: "button", class: "btn", onclick: () => { st.q = ""; st.cursors = []; render(); } }, "Clear the search")));
  if (st.cursors.length) return h("div", { class: "table-wrap" }, empty(`No more ${noun}s`, ""));
  return none;
}

// ----- providers

const KINDS = ["openai", "anthropic", "gemini", "openai-compatible"];

function providerForm(existing, onDone) {
  const isEdit = !!existing;
  const p = existing || {};
  const kind = h("select", {}, KINDS.map((k) => h("option", { value: k, selected: p.kind === k }, k)));
  const inputs = {
    name: h("input", { value: p.name || "", placeholder: "e.g. openai-main", autocomplete: "off", required: true, disabled: isEdit }),
    base_url: h("input", { value: p.base_url || "", placeholder: "default for the kind; required for openai-compatible", autocomplete: "off" }),
    api_key: h("input", { type: "password", placeholder: isEdit && p.api_key ? "stored: " + p.api_key + " (leave blank to keep)" : "sk-…", autocomplete: "new-password" }),
    api_key_env: h("input", { value: p.api_key_env || "", placeholder: "or an env var, e.g. OPENAI_API_KEY", autocomplete: "off" }),
    priority: h("input", { value: p.priority ?? "", placeholder: "0", inputmode: "numeric" }),
    weight: h("input", { value: p.weight ?? "", placeholder: "1", inputmode: "numeric" }),
    max_retries: h("input", { value: p.max_retries ?? "", placeholder: "2", inputmode: "numeric" }),
    timeout_ms: h("input", { value: p.timeout_ms ?? "", placeholder: "60000", inputmode: "numeric" }),
    rate_limit_rpm: h("input", { value: p.rate_limit_rpm ?? "", placeholder: "0 = unlimited", inputmode: "numeric" }),
    models: h("input", { value: "", placeholder: isEdit ? "add models, comma-separated" : "gpt-4o, gpt-4o-mini", autocomplete: "off" }),
  };
  const enabled = h("input", { type: "checkbox", id: "f-enabled", name: "enabled", checked: isEdit ? p.enabled : true });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, isEdit ? "Save changes" : "Add provider");
  const form = h("form", { class: "grid", id: "provider-form", novalidate: true },
    field("name", "Name", inputs.name, isEdit ? "names cannot be changed" : "letters, digits, - _ ."),
    field("kind", "Kind", kind),
    field("base_url", "Base URL", inputs.base_url, null, true),
    field("api_key", "API key", inputs.api_key, "write-only: shown masked after saving"),
    field("api_key_env", "…or key from env var", inputs.api_key_env),
    field("priority", "Priority tier", inputs.priority, "lower tiers are tried first"),
    field("weight", "Weight", inputs.weight, "share within a tier"),
    field("max_retries", "Max retries", inputs.max_retries, "0 to 10"),
    field("timeout_ms", "Timeout (ms)", inputs.timeout_ms),
    field("rate_limit_rpm", "Rate limit (req/min)", inputs.rate_limit_rpm),
    field("models", "Models", inputs.models, "public model names served by this provider (same name upstream)"),
    h("div", { class: "field" }, h("label", { class: "check" }, enabled, "Enabled")),
    h("div", { class: "form-actions" }, submit, h("button", { type: "button", class: "btn", onclick: () => onDone(false) }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const body = { kind: kind.value, enabled: enabled.checked };
    if (!isEdit) body.name = inputs.name.value.trim();
    const str = (k) => { const v = inputs[k].value.trim(); if (v) body[k] = v; };
    str("base_url"); str("api_key"); str("api_key_env");
    for (const k of ["priority", "weight", "max_retries", "timeout_ms", "rate_limit_rpm"]) {
      const v = num(inputs[k].value);
      if (v !== undefined) body[k] = v;
    }
    const ms = list(inputs.models.value);
    if (ms.length) body.models = ms;
    if (isEdit && body.kind === p.kind) delete body.kind;
    submit.disabled = true;
    try {
      if (isEdit) await api("PATCH", "/providers/" + enc(p.name), body);
      else await api("POST", "/providers", body);
      toast(isEdit ? `Saved ${p.name}` : `Added ${body.name}`, "ok");
      onDone(true);
    } catch (e) {
      showError(form, e);
    } finally {
      submit.disabled = false;
    }
  });
  return h("div", { class: "panel" }, h("h2", {}, isEdit ? "Edit " + p.name : "Add a provider"), form);
}

async function pageProviders(state) {
  const page = await listPage("providers");
  const providers = page.data;
  const formSlot = h("div", { id: "form-slot" });
  const openForm = (p) => {
    formSlot.replaceChildren(providerForm(p, (changed) => { formSlot.replaceChildren(); if (changed) render(); }));
    formSlot.querySelector("input:not([disabled]), select").focus();
  };
  const addBtn = h("button", { type: "button", class: "btn btn-primary", id: "add-provider", onclick: () => openForm(null) }, "Add provider");
  const rows = providers.map((p) => {
    const testOut = h("span", { class: "small" });
    const test = async (btn) => {
      btn.disabled = true; testOut.replaceChildren(h("span", { class: "muted" }, "testing…"));
      try {
        const r = await api("POST", "/providers/" + enc(p.name) + "/test");
        const label = r.ok ? "reachable · " + fmtMs(r.latency_ms) : r.detail || r.outcome.replace("_", " ") + (r.status ? " (HTTP " + r.status + ")" : "");
        testOut.replaceChildren(h("span", { class: "badge " + (r.ok ? "ok" : "bad"), title: label + " · " + r.url }, label));
      } catch (e) { testOut.replaceChildren(h("span", { class: "badge bad" }, e.message)); }
      btn.disabled = false;
    };
    const toggle = async () => {
      try { await api("POST", `/providers/${enc(p.name)}/${p.enabled ? "disable" : "enable"}`); toast(`${p.name} ${p.enabled ? "disabled" : "enabled"}`, "ok"); render(); }
      catch (e) { toast(e.message, "bad"); }
    };
    const del = async () => {
      if (!confirm(`Remove provider ${p.name} and its model mappings?`)) return;
      try { await api("DELETE", "/providers/" + enc(p.name)); toast(`Removed ${p.name}`, "ok"); render(); }
      catch (e) {
        if (e.status === 409 && confirm(e.message + "\n\nRemove it anyway?")) {
          try { await api("DELETE", "/providers/" + enc(p.name) + "?force=true"); toast(`Removed ${p.name}`, "ok"); render(); } catch (e2) { toast(e2.message, "bad"); }
        } else if (e.status !== 409) toast(e.message, "bad");
      }
    };
    return h("tr", { class: p.enabled ? "" : "disabled", "data-name": p.name },
      h("td", { class: "name" },
        h("div", {}, h("strong", {}, p.name), " ", p.enabled ? null : h("span", { class: "badge" }, "disabled")),
        h("div", { class: "muted small" }, p.kind),
        h("div", { class: "test-out" }, testOut)),
      h("td", { class: "mono url" }, p.base_url),
      h("td", { class: "mono key" }, p.api_key || (p.api_key_env ? "$" + p.api_key_env : h("span", { class: "muted" }, "none"))),
      h("td", { class: "num" }, p.priority + " · " + p.weight),
      h("td", { class: "wrap" }, p.models.length ? p.models.join(", ") + (p.model_count > p.models.length ? ` and ${fmtInt(p.model_count - p.models.length)} more` : "") : h("span", { class: "muted" }, "no models")),
      h("td", { class: "act" }, h("div", { class: "actions" },
        h("button", { type: "button", class: "btn btn-sm", onclick: (ev) => test(ev.currentTarget) }, "Test"),
        h("button", { type: "button", class: "btn btn-sm", onclick: () => openForm(p) }, "Edit"),
        h("button", { type: "button", class: "btn btn-sm", onclick: toggle }, p.enabled ? "Disable" : "Enable"),
        h("button", { type: "button", class: "btn btn-sm btn-danger", onclick: del }, "Delete"))));
  });
  view().replaceChildren(
    pageHead("Providers", "Upstream APIs the gateway routes to (by priority tier, then weight); listed by name", addBtn),
    formSlot,
    searchBox("providers", "provider"),
    providers.length
      ? table(["Provider", "Base URL", "Key", { label: "Tier · weight", cls: "num" }, "Models", ACT], rows)
      : emptyList("providers", "provider", h("div", { class: "table-wrap" }, empty("No providers yet — add one", "A provider is an upstream API (OpenAI, Anthropic, Gemini or any OpenAI-compatible server) with its key.", h("button", { type: "button", class: "btn btn-primary", onclick: () => openForm(null) }, "Add a provider")))),
    listPager("providers", page, "provider"));
  if (state && state.add) openForm(null);
}

// ----- models and mappings

async function pageModels() {
  const [models, providers] = await Promise.all([listPage("models"), api("GET", "/providers?limit=1000")]);
  const pnames = providers.data.map((p) => p.name);
  const formSlot = h("div");
  const openAdd = () => {
    const inputs = {
      name: h("input", { placeholder: "e.g. gpt-4o", autocomplete: "off" }),
      description: h("input", { placeholder: "optional" }),
      providers: h("input", { placeholder: "openai-main, groq=llama-3.1-8b-instant", autocomplete: "off" }),
    };
    const form = h("form", { class: "grid", novalidate: true, id: "model-form" },
      field("name", "Public model name", inputs.name, "what clients send as `model`"),
      field("description", "Description", inputs.description),
      field("providers", "Providers", inputs.providers, "provider or provider=upstream-model, comma-separated" + (pnames.length ? "; known: " + pnames.join(", ") : ""), true),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Add model"), h("button", { type: "button", class: "btn", onclick: () => formSlot.replaceChildren() }, "Cancel")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault(); clearErrors(form);
      const body = { name: inputs.name.value.trim(), providers: list(inputs.providers.value) };
      if (inputs.description.value.trim()) body.description = inputs.description.value.trim();
      try { await api("POST", "/models", body); toast("Added " + body.name, "ok"); formSlot.replaceChildren(); render(); }
      catch (e) { showError(form, e); }
    });
    formSlot.replaceChildren(h("div", { class: "panel" }, h("h2", {}, "Add a model"), form));
    inputs.name.focus();
  };
  const mapForm = (m) => {
    const prov = h("select", {}, pnames.filter((n) => !m.providers.some((x) => x.provider === n)).map((n) => h("option", { value: n }, n)));
    const inputs = { upstream_model: h("input", { placeholder: m.name }), priority: h("input", { placeholder: "provider's" }), weight: h("input", { placeholder: "provider's" }) };
    const form = h("form", { class: "grid", novalidate: true },
      field("provider", "Provider", prov), field("upstream_model", "Upstream model", inputs.upstream_model, "default: the public name"),
      field("priority", "Priority override", inputs.priority), field("weight", "Weight override", inputs.weight),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Add mapping"), h("button", { type: "button", class: "btn", onclick: () => formSlot.replaceChildren() }, "Cancel")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault(); clearErrors(form);
      const body = { provider: prov.value };
      if (inputs.upstream_model.value.trim()) body.upstream_model = inputs.upstream_model.value.trim();
      for (const k of ["priority", "weight"]) { const v = num(inputs[k].value); if (v !== undefined) body[k] = v; }
      try { await api("POST", `/models/${enc(m.name)}/mappings`, body); toast(`Mapped ${m.name} → ${body.provider}`, "ok"); formSlot.replaceChildren(); render(); }
      catch (e) { showError(form, e); }
    });
    formSlot.replaceChildren(h("div", { class: "panel" }, h("h2", {}, "Map " + m.name + " to a provider"), pnames.length ? form : empty("No providers yet", "Add a provider first.", h("a", { class: "btn btn-primary", href: "#/providers" }, "Go to providers"))));
  };
  const rows = [];
  for (const m of models.data) {
    const toggle = async () => {
      try { await api("PATCH", "/models/" + enc(m.name), { enabled: !m.enabled }); render(); } catch (e) { toast(e.message, "bad"); }
    };
    const del = async () => {
      if (!confirm(`Remove model ${m.name}? Clients asking for it will get 404.`)) return;
      try { await api("DELETE", "/models/" + enc(m.name)); toast("Removed " + m.name, "ok"); render(); } catch (e) { toast(e.message, "bad"); }
    };
    const maps = m.providers.length
      ? h("div", {}, m.providers.map((x) => h("div", { class: "small" },
        h("span", { class: "dot " + (x.enabled ? "ok" : "") }), x.provider, " → ", h("span", { class: "mono" }, x.upstream_model),
        x.priority !== null ? h("span", { class: "muted" }, " · tier " + x.priority) : null,
        x.weight !== null ? h("span", { class: "muted" }, " · weight " + x.weight) : null, " ",
        h("button", { type: "button", class: "btn btn-sm btn-ghost", title: x.enabled ? "Stop using this mapping" : "Use this mapping", onclick: async () => { try { await api("PATCH", `/models/${enc(m.name)}/mappings/${enc(x.provider)}`, { enabled: !x.enabled }); render(); } catch (e) { toast(e.message, "bad"); } } }, x.enabled ? "pause" : "resume"),
        h("button", { type: "button", class: "btn btn-sm btn-ghost btn-danger", title: "Remove mapping", onclick: async () => { if (!confirm(`Unmap ${m.name} from ${x.provider}?`)) return; try { await api("DELETE", `/models/${enc(m.name)}/mappings/${enc(x.provider)}`); render(); } catch (e) { toast(e.message, "bad"); } } }, "remove"))))
      : h("span", { class: "badge warn" }, "no provider: requests fail");
    rows.push(h("tr", { class: m.enabled ? "" : "disabled" },
      h("td", { class: "name" }, h("strong", {}, m.name), m.description ? h("div", { class: "muted small" }, m.description) : null),
      h("td", { class: "wrap" }, maps),
      h("td", {}, m.enabled ? h("span", { class: "badge ok" }, "enabled") : h("span", { class: "badge" }, "disabled")),
      h("td", { class: "act" }, h("div", { class: "actions" },
        h("button", { type: "button", class: "btn btn-sm", onclick: () => mapForm(m) }, "Add mapping"),
        h("button", { type: "button", class: "btn btn-sm", onclick: toggle }, m.enabled ? "Disable" : "Enable"),
        h("button", { type: "button", class: "btn btn-sm btn-danger", onclick: del }, "Delete")))));
  }
  view().replaceChildren(
    pageHead("Models and mappings", "Public model names clients ask for, and the providers that serve them", h("button", { type: "button", class: "btn btn-primary", onclick: openAdd }, "Add model")),
    formSlot,
    searchBox("models", "model"),
    rows.length ? table(["Model", "Providers (mapping → upstream model)", "Status", ACT], rows)
      : emptyList("models", "model", h("div", { class: "table-wrap" }, empty("No models yet — add one", "A model is the name clients send; map it to one or more providers.", h("button", { type: "button", class: "btn btn-primary", onclick: openAdd }, "Add a model")))),
    listPager("models", models, "model"));
}

// ----- client keys

async function pageKeys() {
  const page = await listPage("keys");
  const keys = page.data;
  const once = h("div", { id: "new-key" });
  const inputs = { name: h("input", { placeholder: "e.g. billing-service", autocomplete: "off" }), rpm_limit: h("input", { placeholder: "0 = unlimited", inputmode: "numeric" }), models: h("input", { placeholder: "all models", autocomplete: "off" }) };
  const form = h("form", { class: "grid", novalidate: true, id: "key-form" },
    field("name", "Name", inputs.name, "who uses it"), field("rpm_limit", "Requests per minute", inputs.rpm_limit), field("models", "Allowed models", inputs.models, "comma-separated; empty = all"),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Create key")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault(); clearErrors(form);
    const body = { name: inputs.name.value.trim() };
    const r = num(inputs.rpm_limit.value); if (r !== undefined) body.rpm_limit = r;
    const ms = list(inputs.models.value); if (ms.length) body.models = ms;
    try {
      const k = await api("POST", "/keys", body);
      await pageKeys();
      showNewKey(k);
    } catch (e) { showError(form, e); }
  });
  const rows = keys.map((k) => h("tr", { class: k.revoked_at ? "disabled" : "" },
    h("td", { class: "name" }, h("strong", {}, k.name)), h("td", { class: "mono" }, k.prefix + "…"),
    h("td", { class: "num" }, k.rpm_limit ? fmtInt(k.rpm_limit) : "unlimited"),
    h("td", { class: "wrap" }, k.models ? k.models.join(", ") : h("span", { class: "muted" }, "all")),
    h("td", {}, fmtTime(k.created_at)), h("td", { title: k.last_used_at || "" }, ago(k.last_used_at)),
    h("td", {}, k.revoked_at ? h("span", { class: "badge bad" }, "revoked") : h("span", { class: "badge ok" }, "active")),
    h("td", { class: "act" }, k.revoked_at ? "" : h("div", { class: "actions" }, h("button", {
      type: "button", class: "btn btn-sm btn-danger", onclick: async () => {
        if (!confirm(`Revoke key ${k.name}? Apps using it stop working within seconds.`)) return;
        try { await api("POST", `/keys/${enc(k.name)}/revoke`); toast("Revoked " + k.name, "ok"); render(); } catch (e) { toast(e.message, "bad"); }
      },
    }, "Revoke")))));
  view().replaceChildren(
    pageHead("Client keys", "Keys that applications present to the gateway. Only a hash is stored."),
    once,
    h("div", { class: "panel" }, h("h2", {}, "Create a key"), form),
    searchBox("keys", "key"),
    rows.length ? table(["Name", "Prefix", { label: "Limit", cls: "num" }, "Models", "Created", "Last used", "Status", ACT], rows)
      : emptyList("keys", "key", h("div", { class: "table-wrap" }, empty("No client keys yet", "Create one above and give it to an application."))),
    listPager("keys", page, "key"));
}

function showNewKey(k) {
  const code = h("code", { id: "new-key-value" }, k.key);
  const copy = h("button", {
    type: "button", class: "btn btn-primary", id: "copy-key", onclick: async () => {
      try { await navigator.clipboard.writeText(k.key); copy.textContent = "Copied"; }
      catch (_) { const r = document.createRange(); r.selectNodeContents(code); const sel = getSelection(); sel.removeAllRanges(); sel.addRange(r); copy.textContent = "Selected: press Ctrl+C"; }
    },
  }, "Copy");
  document.getElementById("new-key").replaceChildren(h("div", { class: "secret-once", role: "status" },
    h("strong", {}, `Key “${k.name}” created. Copy it now: it will not be shown again.`),
    h("div", { class: "secret-row" }, code, copy,
      h("button", { type: "button", class: "btn", onclick: () => document.getElementById("new-key").replaceChildren() }, "Done"))));
}

// ----- logs

const logState = { filters: { range: "3600000" }, cursors: [], page: null };

async function pageLogs() {
  const f = logState.filters;
  const q = new URLSearchParams();
  if (f.range) q.set("from", String(Date.now() - Number(f.range)));
  for (const k of ["model", "provider", "status", "key", "api", "error_type"]) if (f[k]) q.set(k, f[k]);
  if (f.errors) q.set("errors", "true");
  q.set("limit", "50");
  const cursor = logState.cursors[logState.cursors.length - 1];
  if (cursor) q.set("cursor", cursor);
  let page, error = null;
  try { page = await api("GET", "/logs?" + q.toString()); } catch (e) { if (e.status !== 400) throw e; error = e; page = { data: [], next: null }; }

  const inp = (k, ph) => h("input", { value: f[k] || "", placeholder: ph, autocomplete: "off" });
  const inputs = { model: inp("model", "any"), provider: inp("provider", "any"), status: inp("status", "e.g. 502"), key: inp("key", "any"), api: inp("api", "e.g. chat"), error_type: inp("error_type", "e.g. upstream_error") };
  const range = h("select", {}, [["900000", "Last 15 min"], ["3600000", "Last hour"], ["86400000", "Last 24 hours"], ["604800000", "Last 7 days"], ["", "All time"]]
    .map(([v, l]) => h("option", { value: v, selected: (f.range || "") === v }, l)));
  const errors = h("input", { type: "checkbox", id: "f-errors", checked: !!f.errors });
  const form = h("form", { class: "filters", id: "log-filters" },
    field("range", "Time", range), field("model", "Model", inputs.model), field("provider", "Provider", inputs.provider),
    field("status", "Status", inputs.status), field("key", "Client key", inputs.key),
    field("api", "API", inputs.api), field("error_type", "Error type", inputs.error_type),
    h("div", { class: "field field-check" }, h("label", { class: "check" }, errors, "Errors only")),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Apply"),
      h("button", { type: "button", class: "btn", onclick: () => { logState.filters = { range: "3600000" }; logState.cursors = []; render(); } }, "Reset")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    logState.filters = { range: range.value, errors: errors.checked };
    for (const k of Object.keys(inputs)) logState.filters[k] = inputs[k].value.trim();
    logState.cursors = [];
    render();
  });
  if (error) setTimeout(() => showError(form, error));

  const rows = page.data.map((r) => h("tr", { class: "clickable", tabindex: 0, onclick: () => logDetails(r), onkeydown: (ev) => { if (ev.key === "Enter") logDetails(r); } },
    h("td", {}, fmtTime(r.ts_ms)), h("td", {}, statusBadge(r.status)), h("td", { class: "name" }, r.model || "–"), h("td", { class: "name" }, r.provider || "–"),
    h("td", { class: "name" }, r.key_name || h("span", { class: "muted" }, keyLabel(r))), h("td", { class: "num" }, fmtMs(r.latency_ms)),
    h("td", { class: "num" }, r.prompt_tokens === null && r.completion_tokens === null ? "–" : fmtInt((r.prompt_tokens || 0) + (r.completion_tokens || 0))),
    h("td", {}, r.stream ? h("span", { class: "badge info" }, "stream") : ""), h("td", { class: "muted small err" }, r.error_type || "")));
  const pageNo = logState.cursors.length + 1;
  // A filter no index serves stops after a bounded number of rows: say how far it searched.
  const partial = page.complete === false
    ? h("p", { class: "notice muted small", id: "log-scan-note", role: "status" },
      `Searched back to ${fmtTime(page.scanned_until)} and found ${page.data.length}; “Older →” searches further back, or narrow the time range.`)
    : null;
  const pager = h("div", { class: "pager" },
    h("span", { class: "muted small" }, `Page ${pageNo} · ${page.data.length} request${page.data.length === 1 ? "" : "s"} · newest first`),
    h("div", { class: "toolbar" },
      h("button", { type: "button", class: "btn", disabled: pageNo === 1, onclick: () => { logState.cursors = []; render(); } }, "Newest"),
      h("button", { type: "button", class: "btn", disabled: pageNo === 1, onclick: () => { logState.cursors.pop(); render(); } }, "← Newer"),
      h("button", { type: "button", class: "btn", id: "older", disabled: !page.next, onclick: () => { logState.cursors.push(page.next); render(); } }, "Older →")));
  view().replaceChildren(
    pageHead("Request logs", "Every request the gateway served; click a row for details", h("button", { type: "button", class: "btn", onclick: () => render() }, "Refresh")),
    h("div", { class: "panel" }, form),
    rows.length ? table(["Time", "Status", "Model", "Provider", "Key", { label: "Latency", cls: "num" }, { label: "Tokens", cls: "num" }, "", "Error"], rows)
      : h("div", { class: "table-wrap" }, error ? empty("Fix the filter above", error.message)
        : partial ? empty("No matches yet", "None in the requests searched so far.")
          : empty("No requests match", pageNo === 1 ? "Nothing was logged in this range with these filters." : "No more requests.")),
    partial, pager);
}

// A row without a key name: a key that was presented and is unknown (with
// its shown prefix), or none at all.
function keyLabel(r) {
  if (r.error_type !== "invalid_key") return "anonymous";
  return r.key_prefix ? `invalid key ${r.key_prefix}…` : "invalid key";
}

function logDetails(r) {
  openDrawer("Request " + r.request_id, kv([
    ["Time", new Date(r.ts_ms).toISOString()], ["Request ID", h("span", { class: "mono" }, r.request_id)], ["Status", statusBadge(r.status)],
    ["Request", r.method ? h("span", { class: "mono" }, `${r.method} ${r.path || ""}`) : null], ["API", r.api],
    ["Error type", r.error_type], ["Client key", r.key_name || keyLabel(r)], ["Model", r.model], ["Provider", r.provider], ["Upstream model", r.upstream_model],
    ["Attempts", r.attempts], ["Streamed", r.stream ? "yes" : "no"], ["Latency", fmtMs(r.latency_ms)], ["Time to first byte", r.ttfb_ms === null ? null : fmtMs(r.ttfb_ms)],
    ["Upstream time", r.upstream_ms === null ? null : fmtMs(r.upstream_ms)], ["Prompt tokens", r.prompt_tokens], ["Completion tokens", r.completion_tokens], ["Log id", r.id],
  ]));
}

// ----- health

async function pageHealth() {
  const [health, providers] = await Promise.all([api("GET", "/health?limit=100"), api("GET", "/providers?limit=1000")]);
  const live = Array.isArray(health.providers) ? health.providers : [];
  const latest = new Map((health.latest || []).map((e) => [e.provider, e]));
  const liveBy = new Map(live.filter((p) => p && p.name).map((p) => [p.name, p]));
  const rows = providers.data.map((p) => {
    const l = liveBy.get(p.name) || {};
    const e = latest.get(p.name) || {};
    const state = p.enabled ? l.state || l.circuit || e.state || "closed" : null;
    return h("tr", {},
      h("td", { class: "name" }, h("strong", {}, p.name)), h("td", {}, p.enabled ? stateBadge(state) : h("span", { class: "badge" }, "disabled")),
      h("td", { class: "num" }, l.consecutive_failures ?? e.consecutive_failures ?? 0),
      h("td", { class: "wrap" }, l.last_error || e.last_error || h("span", { class: "muted" }, "none")),
      h("td", {}, e.changed_at_ms ? fmtTime(e.changed_at_ms) : h("span", { class: "muted" }, "no change recorded")));
  });
  const hist = (health.history || []).map((e) => h("tr", {},
    h("td", {}, fmtTime(e.changed_at_ms)), h("td", { class: "name" }, e.provider), h("td", {}, stateBadge(e.state)),
    h("td", { class: "num" }, e.consecutive_failures), h("td", { class: "wrap" }, e.last_error || "")));
  view().replaceChildren(
    pageHead("Health", "Circuit-breaker state per provider: closed = healthy, open = skipped after failures, half-open = probing", h("button", { type: "button", class: "btn", onclick: () => render() }, "Refresh")),
    rows.length ? table(["Provider", "Circuit", { label: "Failures in a row", cls: "num" }, "Last error", "Since"], rows)
      : h("div", { class: "table-wrap" }, empty("No providers yet — add one", "", h("a", { class: "btn btn-primary", href: "#/providers" }, "Add a provider"))),
    h("p"), h("h2", {}, "Recent state changes"),
    hist.length ? table(["When", "Provider", "State", { label: "Failures", cls: "num" }, "Error"], hist)
      : h("div", { class: "table-wrap" }, empty("No state changes recorded", "Providers have answered normally so far.")));
}

// ---------------------------------------------------------------- router

const PAGES = { overview: pageOverview, providers: pageProviders, models: pageModels, keys: pageKeys, logs: pageLogs, health: pageHealth };
let rendering = 0;

async function render() {
  const name = (location.hash.replace(/^#\/?/, "").split("?")[0]) || "overview";
  const page = PAGES[name] || pageOverview;
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  // The hash is the user's text: compare it, never build a selector from it.
  const link = [...document.querySelectorAll("#nav a")].find((a) => a.dataset.page === name);
  document.title = (link || { textContent: "Overview" }).textContent + " · llmo admin";
  const ticket = ++rendering;
  try {
    await page();
  } catch (e) {
    if (ticket !== rendering) return;
    view().replaceChildren(pageHead("Something went wrong"), h("div", { class: "panel" }, h("p", {}, e.message), h("button", { type: "button", class: "btn", onclick: () => render() }, "Retry")));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.replace("login.html"); });
  document.getElementById("drawer-close").addEventListener("click", closeDrawer);
  document.getElementById("drawer").addEventListener("click", (ev) => { if (ev.target.id === "drawer") closeDrawer(); });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDrawer(); });
  window.addEventListener("hashchange", () => { closeDrawer(); render(); });
  if (adminKey) render();
});

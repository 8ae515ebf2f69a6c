// The matgto admin page: plain script, no dependencies, no build step.
// Data: /api/access, /api/sessions, /api/cassettes, /api/cassettes/NAME
// (protobuf JSON mapping, proto field names; bodies are base64 `bytes`);
// live events: /events (server-sent events, read with fetch so that the
// Authorization header goes along when the server has tokens).
"use strict";
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g,
  (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c]));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const RESULT = {RESULT_REPLAYED: "replayed", RESULT_RECORDED: "recorded",
  RESULT_MISSED: "missed", RESULT_PASSED_THROUGH: "passed-through", RESULT_ERROR: "error"};

// --- Tokens: from the URL fragment (#token=..., never sent to the server as
// part of a URL) or the form; kept for this tab only.
let token = sessionStorage.getItem("matgto-token") || "";
function tokenFromFragment() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return false;
  token = decodeURIComponent(m[1]);
  sessionStorage.setItem("matgto-token", token);
  history.replaceState(null, "", location.pathname + location.search);
  $("#auth").hidden = true;
  return true;
}
tokenFromFragment();
window.addEventListener("hashchange", () => { if (tokenFromFragment()) loadAll(); });
const authHeaders = () => (token ? {Authorization: "Bearer " + token} : {});
function askForToken(why) {
  $("#auth").hidden = false;
  $("#auth-why").textContent = why;
}
$("#auth").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("#token").value.trim();
  sessionStorage.setItem("matgto-token", token);
  $("#auth").hidden = true;
  loadAll();
});
function notice(text, isError) {
  const n = $("#notice");
  n.textContent = text;
  n.className = isError ? "error" : "";
  n.hidden = !text;
}

async function api(path, init) {
  const r = await fetch(path, {cache: "no-store", ...init,
    headers: {...authHeaders(), ...((init && init.headers) || {})}});
  if (r.status === 401) askForToken("this server wants a token");
  if (!r.ok) throw new Error(`${(init && init.method) || "GET"} ${path}: ${r.status} ${(await r.text()).trim()}`);
  return r;
}
const getJson = async (path) => (await api(path)).json();

// --- Sessions and cassettes.
let access = "read";
async function refreshAccess() {
  try { access = (await getJson("api/access")).access; } catch (e) { access = "read"; }
  $("#access").textContent = access === "write" ? "" : "· read only (deleting needs scope write)";
}

async function refreshSessions() {
  try {
    const d = await getJson("api/sessions");
    $("#sessions tbody").innerHTML = (d.sessions || []).map((s) =>
      `<tr data-session="${esc(s.id || "default")}"><td>${esc(s.id || "default")}</td>
       <td>${esc(s.cassette)}</td><td>${esc(s.mode)}</td><td>${+s.recorded || 0}</td>
       <td>${+s.replayed || 0}</td><td>${+s.missed || 0}</td>
       <td>${+s.passed_through || 0}</td></tr>`).join("");
  } catch (e) { $("#status").textContent = String(e.message); }
}

let cassettes = [];
async function refreshCassettes() {
  try { cassettes = (await getJson("api/cassettes")).cassettes || []; } catch (e) { cassettes = []; }
  drawCassettes();
}
function drawCassettes() {
  const f = $("#filter").value.toLowerCase();
  const canDelete = access === "write";
  $("#cassettes tbody").innerHTML = cassettes.filter((c) => c.name.toLowerCase().includes(f))
    .map((c) => `<tr data-name="${esc(c.name)}"><td><a data-open="${esc(c.name)}">${esc(c.name)}</a></td>
      <td>${+c.interactions || 0}</td><td>${+c.size_bytes || 0}</td>
      <td>${esc(c.updated_at)}</td>
      <td><a data-download="json" data-name="${esc(c.name)}">JSON</a>
        <a data-download="har" data-name="${esc(c.name)}">HAR</a></td>
      <td><button class="delete" data-delete="${esc(c.name)}" ${canDelete ? "" :
        "disabled title=\"deleting needs a token with scope write\""}>delete</button></td>
      </tr>`).join("");
}
$("#filter").addEventListener("input", drawCassettes);
$("#cassettes").addEventListener("click", (e) => {
  const d = e.target.dataset || {};
  if (d.open) openCassette(d.open);
  else if (d.download) download(d.name, d.download);
  else if (d.delete) deleteCassette(d.delete);
});

const cassettePath = (name) => "api/cassettes/" + encodeURIComponent(name);

// A download through fetch (so a token goes along), saved from a blob URL.
async function download(name, format) {
  try {
    const blob = await (await api(cassettePath(name) + "?download=" + format)).blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name.split("/").pop() + "." + format;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) { notice(e.message, true); }
}

async function deleteCassette(name) {
  if (!confirm(`Delete cassette '${name}'? This cannot be undone.`)) return;
  try {
    await api(cassettePath(name), {method: "DELETE"});
    notice(`deleted cassette '${name}'`, false);
    if ($("#cassette-view").dataset.name === name) $("#cassette-view").hidden = true;
  } catch (e) { notice(e.message, true); }
  refreshCassettes();
}

// --- Bodies: JSON pretty-printed, images as images, text as text, the rest
// as a hex dump. gzip/deflate bodies are shown decoded (they are stored as
// they crossed the wire).
const header = (hs, name) => (hs || []).filter((h) => h.name.toLowerCase() === name)
  .map((h) => h.value).join(", ");
const b64bytes = (b64) => Uint8Array.from(atob(b64 || ""), (c) => c.charCodeAt(0));

async function decoded(bytes, encoding) {
  const kind = {gzip: "gzip", "x-gzip": "gzip", deflate: "deflate"}[encoding.trim().toLowerCase()];
  if (!kind || !bytes.length || typeof DecompressionStream === "undefined") return [bytes, ""];
  try {
    const out = await new Response(new Blob([bytes]).stream()
      .pipeThrough(new DecompressionStream(kind))).arrayBuffer();
    return [new Uint8Array(out), `<span class=muted>(${esc(encoding)}, shown decoded)</span>`];
  } catch (e) { return [bytes, ""]; }
}

function hexDump(bytes) {
  const lines = [];
  const n = Math.min(bytes.length, 4096);
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(off.toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + "  " + ascii);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return `<pre class="hex">${esc(lines.join("\n"))}</pre>`;
}

function textOrJson(text, type) {
  const t = text.trim();
  if (/json/.test(type) || t.startsWith("{") || t.startsWith("[")) {
    try { return `<pre class="json">${esc(JSON.stringify(JSON.parse(t), null, 2))}</pre>`; } catch (e) { /* text */ }
  }
  return `<pre class="text">${esc(text)}</pre>`;
}

async function renderBody(b64, text, headers) {
  if (text) return textOrJson(text, header(headers, "content-type"));
  if (!b64) return "<span class=muted>(empty body)</span>";
  const type = header(headers, "content-type").split(";")[0].trim().toLowerCase();
  const [bytes, note] = await decoded(b64bytes(b64), header(headers, "content-encoding"));
  if (type.startsWith("image/")) {
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return `${note}<img class="body-img" alt="${esc(type)} body" src="data:${esc(type)};base64,${btoa(bin)}">`;
  }
  try {
    return note + textOrJson(new TextDecoder("utf-8", {fatal: true}).decode(bytes), type);
  } catch (e) { return note + hexDump(bytes); }
}
const headerList = (hs) => "<pre class=headers>" + (hs || [])
  .map((h) => esc(h.name + ": " + (h.value || "(binary)"))).join("\n") + "</pre>";

async function renderHttp(x) {
  const q = x.request || {}, r = x.response || {};
  return `<div class=part><div><b>request</b> ${esc(q.method)} ${esc(q.url)} ${esc(q.http_version)}
      ${headerList(q.headers)}${await renderBody(q.body, q.body_text, q.headers)}</div>
    <div><b>response</b> ${+r.status || 0} ${esc(r.reason)}
      ${headerList(r.headers)}${await renderBody(r.body, r.body_text, r.headers)}</div></div>`;
}

// A WebSocket session as a conversation: client messages left, server right.
async function renderWs(w) {
  const side = (d) => (d === "SERVER_TO_CLIENT" ? "server" : "client");
  const msgs = await Promise.all((w.messages || []).map(async (m) => {
    const kind = (m.kind || "WS_TEXT").replace("WS_", "").toLowerCase();
    let shown;
    if (m.payload_text) shown = textOrJson(m.payload_text, "");
    else if (kind === "text") shown = await renderBody(m.payload, "", [{name: "content-type", value: "text/plain"}]);
    else shown = m.payload ? hexDump(b64bytes(m.payload)) : "<span class=muted>(empty)</span>";
    return `<div class="msg ${side(m.direction)}"><div class=meta>${esc(kind)} · +${esc(m.since_open || "0s")}</div>${shown}</div>`;
  }));
  const c = w.close;
  const close = c ? `<div class=close>closed by the ${side(c.initiator)}: ${+c.code || 0} ${esc(c.reason)} · +${esc(c.since_open || "")}</div>` : "";
  const q = w.upgrade_request || {}, r = w.upgrade_response || {};
  return `<details><summary>upgrade: ${esc(q.method)} ${esc(q.url)} → ${+r.status || 0}</summary>
      <div class=part><div>${headerList(q.headers)}</div><div>${headerList(r.headers)}</div></div></details>
    <div class=ws><div class="head">client</div><div class="head">server</div>${msgs.join("")}${close}</div>`;
}

// --- Timing waterfall: each interaction at its recorded start, as long as it
// took (time to first byte darker).
function parseTime(ts) {  // RFC 3339 with up to nanoseconds -> ms
  const m = /^(.*?)(\.\d+)?Z$/.exec(ts || "");
  if (!m) return NaN;
  return Date.parse(m[1] + "Z") + (m[2] ? parseFloat(m[2]) * 1000 : 0);
}
const parseDuration = (d) => (d ? parseFloat(d) * 1000 : 0);  // "0.012s" -> ms

function waterfall(interactions) {
  const rows = interactions.map((it, i) => {
    const x = it.http || it.websocket;
    const timing = (x && x.timing) || {};
    let total = parseDuration(timing.total);
    if (it.websocket && !total && it.websocket.close) total = parseDuration(it.websocket.close.since_open);
    const q = it.http ? it.http.request || {} : (it.websocket && it.websocket.upgrade_request) || {};
    let path = q.url || "";
    try { path = new URL(q.url).pathname; } catch (e) { /* keep */ }
    return {i, start: parseTime(timing.started_at || it.recorded_at), total,
      ttfb: parseDuration(timing.time_to_first_byte), ws: !!it.websocket,
      label: `#${+it.index || i} ${it.websocket ? "WS" : esc(q.method)} ${esc(path)}`};
  }).filter((r) => !isNaN(r.start));
  if (!rows.length) return "<p class=muted>no timing recorded</p>";
  const t0 = Math.min(...rows.map((r) => r.start));
  const span = Math.max(...rows.map((r) => r.start + r.total)) - t0 || 1;
  const pct = (v) => (100 * v / span).toFixed(3) + "%";
  return `<div class=muted>${rows.length} interactions over ${span.toFixed(1)} ms</div>` +
    rows.map((r) => `<div class=wf-row data-goto="${r.i}"><span class=wf-label>${r.label}</span>
      <span class=wf-track><span class="wf-bar${r.ws ? " ws" : ""}" style="left:${pct(r.start - t0)};width:${pct(r.total)}">
      ${r.ttfb ? `<span class=wf-ttfb style="width:${(100 * Math.min(r.ttfb / (r.total || 1), 1)).toFixed(1)}%"></span>` : ""}
      </span></span><span class=wf-ms>${r.total.toFixed(1)} ms</span></div>`).join("");
}
$("#waterfall").addEventListener("click", (e) => {
  const row = e.target.closest(".wf-row");
  if (row) focusInteraction(+row.dataset.goto);
});
function focusInteraction(i) {
  document.querySelectorAll("#cassette-body details.focus").forEach((d) => d.classList.remove("focus"));
  const d = document.getElementById("interaction-" + i);
  if (!d) return;
  d.open = true;
  d.classList.add("focus");
  d.scrollIntoView({block: "nearest"});
}

async function openCassette(name, focus) {
  const view = $("#cassette-view");
  view.hidden = false;
  view.dataset.name = name;
  $("#cassette-title").textContent = "Cassette " + name;
  $("#waterfall").innerHTML = "";
  $("#cassette-body").textContent = "loading…";
  try {
    const c = await getJson(cassettePath(name));
    const its = c.interactions || [];
    $("#waterfall").innerHTML = waterfall(its);
    const parts = await Promise.all(its.map(async (it, i) => {
      let summary, inner;
      if (it.http) {
        const q = it.http.request || {}, r = it.http.response || {};
        summary = `${esc(q.method)} ${esc(q.url)} → ${+r.status || 0}`;
        inner = await renderHttp(it.http);
      } else if (it.websocket) {
        const w = it.websocket;
        summary = `WebSocket ${esc((w.upgrade_request || {}).url)} · ${(w.messages || []).length} messages`;
        inner = await renderWs(w);
      } else {
        summary = esc(Object.keys(it).join(", "));
        inner = `<pre>${esc(JSON.stringify(it, null, 2))}</pre>`;
      }
      const fault = it.fault ? ` <span class=muted>(fault ${esc(it.fault)})</span>` : "";
      return `<details id="interaction-${i}" class="interaction ${it.websocket ? "ws-session" : "http"}">
        <summary>#${+it.index || i} ${summary}${fault}</summary>${inner}</details>`;
    }));
    $("#cassette-body").innerHTML = parts.join("") || "<p class=muted>no interactions</p>";
    if (focus !== undefined) focusInteraction(focus);
  } catch (e) { $("#cassette-body").textContent = String(e.message); }
}

// --- Live exchanges, from the event stream.
function addRow(html, cls) {
  const body = $("#exchanges tbody");
  body.insertAdjacentHTML("afterbegin", `<tr class="${cls}">${html}</tr>`);
  while (body.rows.length > 500) body.deleteRow(-1);
}
// The session counters follow the exchanges (at most every 300 ms).
let sessionsTimer = null;
function soonRefreshSessions() {
  if (sessionsTimer === null) {
    sessionsTimer = setTimeout(() => { sessionsTimer = null; refreshSessions(); }, 300);
  }
}
function onEvent(e) {
  const t = (e.time || "").slice(11, 23);
  if (e.dropped) addRow(`<td colspan=7>${+e.dropped} events lost (this page read too slowly)</td>`, "miss");
  if (e.exchange || e.miss) soonRefreshSessions();
  if (e.exchange) {
    const x = e.exchange, res = RESULT[x.result] || x.result;
    const ms = x.duration ? (parseFloat(x.duration) * 1000).toFixed(2) : "";
    addRow(`<td>${esc(t)}</td><td>${esc(x.session)}</td><td>${esc(x.method)}</td>
      <td class=url>${esc(x.url)}</td><td>${+x.status || 0}</td><td>${esc(res)}</td>
      <td>${ms}</td>`, res);
  } else if (e.miss) {
    // The live request next to the closest recording, the fields that differ.
    const m = e.miss.miss || {}, c = (m.closest || [])[0];
    const open = c && e.miss.cassette ? ` <a data-open="${esc(e.miss.cassette)}" data-index="${+c.interaction_index || 0}">open the recording</a>` : "";
    const diff = c ? `<table class=diff><tr><th>field</th><th>recorded #${+c.interaction_index || 0}${open}</th>
      <th>live</th></tr>${(c.differences || []).map((d) => `<tr><td class=field>${esc(d.field)}</td>
      <td class=rec>${esc(d.recorded)}</td><td class=live>${esc(d.live)}</td></tr>`).join("")}</table>` : "";
    addRow(`<td>${esc(t)}</td><td>${esc(e.miss.session)}</td>
      <td colspan=5>${esc(e.miss.explanation)}${diff}</td>`, "miss");
  } else if (e.session) {
    refreshSessions(); refreshCassettes();
  }
}
$("#exchanges").addEventListener("click", (e) => {
  const d = e.target.dataset || {};
  if (d.open) openCassette(d.open, +d.index);
});

async function follow() {
  for (;;) {
    try {
      const r = await fetch("events", {cache: "no-store", headers: authHeaders()});
      if (r.status === 401) {
        askForToken("this server wants a token");
        $("#status").textContent = "needs a token";
        await sleep(2000);
        continue;
      }
      if (!r.ok) throw new Error("events: " + r.status);
      $("#status").textContent = "live";
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const data = buf.slice(0, end).split("\n").filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6)).join("\n");
          buf = buf.slice(end + 2);
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch (e) { /* retry below */ }
    $("#status").textContent = "disconnected; retrying…";
    await sleep(1000);
  }
}

async function loadAll() {
  await refreshAccess();
  refreshSessions();
  refreshCassettes();
}
loadAll();
follow();
setInterval(refreshSessions, 2000);

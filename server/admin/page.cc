#include "server/admin/page.h"

namespace matgto::admin {
namespace {

// Plain HTML + JS, no dependencies. Bodies in the cassette JSON are base64
// (protobuf `bytes`): the script decodes them and pretty-prints JSON, shows
// text as text and anything else as hex.
constexpr char kIndexHtml[] = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>matgto</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#24292f;color:#fff;padding:8px 16px}
header b{font-size:16px}
main{display:grid;grid-template-columns:1fr 1fr;gap:16px;padding:16px}
section{min-width:0}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
td.url{word-break:break-all}
tr.missed td,tr.error td{background:#fff0f0}
tr.replayed td{background:#f3fff3}
tr.miss td{background:#fff8e0;font-size:12px}
table.diff{margin-top:4px;width:auto}
table.diff td.rec{background:#e6ffec}table.diff td.live{background:#ffebe9}
pre{background:#f6f8fa;padding:6px;overflow:auto;max-height:300px;margin:4px 0}
#exchanges-wrap{max-height:60vh;overflow:auto}
.muted{color:#777}
a{cursor:pointer;color:#0969da}
</style></head>
<body>
<header><b>matgto</b> <span id="status" class="muted">connecting…</span></header>
<main>
<section>
<h2>Sessions</h2>
<table id="sessions"><thead><tr><th>session</th><th>cassette</th><th>mode</th>
<th>recorded</th><th>replayed</th><th>missed</th><th>passed through</th></tr></thead>
<tbody></tbody></table>
<h2 style="margin-top:16px">Cassettes <input id="filter" placeholder="search"></h2>
<table id="cassettes"><thead><tr><th>name</th><th>interactions</th><th>bytes</th>
<th>updated</th></tr></thead><tbody></tbody></table>
</section>
<section>
<h2>Live exchanges</h2>
<div id="exchanges-wrap"><table id="exchanges"><thead><tr><th>time</th><th>session</th>
<th>method</th><th>url</th><th>status</th><th>result</th><th>ms</th></tr></thead>
<tbody></tbody></table></div>
</section>
<section style="grid-column:1/3" id="cassette-view" hidden>
<h2 id="cassette-title"></h2><div id="cassette-body"></div>
</section>
</main>
<script>
"use strict";
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s ?? "").replace(/[&<>"]/g,
  (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
const RESULT = {RESULT_REPLAYED:"replayed", RESULT_RECORDED:"recorded",
  RESULT_MISSED:"missed", RESULT_PASSED_THROUGH:"passed-through", RESULT_ERROR:"error"};

async function getJson(path) {
  const r = await fetch(path, {cache: "no-store"});
  if (!r.ok) throw new Error(path + ": " + r.status + " " + await r.text());
  return r.json();
}

async function refreshSessions() {
  try {
    const d = await getJson("api/sessions");
    $("#sessions tbody").innerHTML = (d.sessions || []).map((s) =>
      `<tr data-session="${esc(s.id || "default")}"><td>${esc(s.id || "default")}</td>
       <td>${esc(s.cassette)}</td><td>${esc(s.mode)}</td><td>${+s.recorded || 0}</td>
       <td>${+s.replayed || 0}</td><td>${+s.missed || 0}</td>
       <td>${+s.passed_through || 0}</td></tr>`).join("");
  } catch (e) { $("#status").textContent = String(e); }
}

let cassettes = [];
async function refreshCassettes() {
  try { cassettes = (await getJson("api/cassettes")).cassettes || []; } catch (e) { cassettes = []; }
  drawCassettes();
}
function drawCassettes() {
  const f = $("#filter").value.toLowerCase();
  $("#cassettes tbody").innerHTML = cassettes.filter((c) => c.name.toLowerCase().includes(f))
    .map((c) => `<tr><td><a data-name="${esc(c.name)}">${esc(c.name)}</a></td>
      <td>${+c.interactions || 0}</td><td>${+c.size_bytes || 0}</td>
      <td>${esc(c.updated_at)}</td></tr>`).join("");
}
$("#filter").addEventListener("input", drawCassettes);
$("#cassettes").addEventListener("click", (e) => {
  const name = e.target.dataset && e.target.dataset.name;
  if (name) openCassette(name);
});

function decodeBody(b64, headers) {
  if (!b64) return "<span class=muted>(empty)</span>";
  const bin = atob(b64);
  const type = (headers || []).filter((h) => h.name.toLowerCase() === "content-type")
    .map((h) => h.value).join(";");
  let text = null;
  try { text = new TextDecoder("utf-8", {fatal: true}).decode(
    Uint8Array.from(bin, (c) => c.charCodeAt(0))); } catch (e) { text = null; }
  if (text !== null) {
    try { return "<pre>" + esc(JSON.stringify(JSON.parse(text), null, 2)) + "</pre>"; }
    catch (e) { return "<pre>" + esc(text) + "</pre>"; }
  }
  if (type.startsWith("image/")) return `<img alt="body" src="data:${esc(type)};base64,${b64}">`;
  let hex = "";
  for (let i = 0; i < Math.min(bin.length, 4096); i++) {
    hex += bin.charCodeAt(i).toString(16).padStart(2, "0") + (i % 16 === 15 ? "\n" : " ");
  }
  return "<pre>" + hex + (bin.length > 4096 ? "\n…" : "") + "</pre>";
}
const headerList = (hs) => "<pre>" + (hs || []).map((h) => esc(h.name + ": " + h.value)).join("\n") + "</pre>";

async function openCassette(name) {
  $("#cassette-view").hidden = false;
  $("#cassette-title").textContent = "Cassette " + name;
  try {
    const c = await getJson("api/cassettes/" + encodeURIComponent(name));
    $("#cassette-body").innerHTML = (c.interactions || []).map((it, i) => {
      if (it.http) {
        const q = it.http.request || {}, r = it.http.response || {};
        return `<details><summary>#${i} ${esc(q.method)} ${esc(q.url)} → ${+r.status || 0}</summary>
          <b>request</b>${headerList(q.headers)}${decodeBody(q.body, q.headers)}
          <b>response</b>${headerList(r.headers)}${decodeBody(r.body, r.headers)}</details>`;
      }
      return `<details><summary>#${i} ${esc(Object.keys(it).join(", "))}</summary>
        <pre>${esc(JSON.stringify(it, null, 2))}</pre></details>`;
    }).join("") || "<p class=muted>no interactions</p>";
  } catch (e) { $("#cassette-body").textContent = String(e); }
}

function addRow(html, cls) {
  const body = $("#exchanges tbody");
  body.insertAdjacentHTML("afterbegin", `<tr class="${cls}">${html}</tr>`);
  while (body.rows.length > 500) body.deleteRow(-1);
}
function follow() {
  const es = new EventSource("events");
  es.onopen = () => { $("#status").textContent = "live"; };
  es.onerror = () => { $("#status").textContent = "disconnected; retrying…"; };
  es.onmessage = (m) => {
    const e = JSON.parse(m.data);
    const t = (e.time || "").slice(11, 23);
    if (e.dropped) addRow(`<td colspan=7>${+e.dropped} events lost (this page read too slowly)</td>`, "miss");
    if (e.exchange) {
      const x = e.exchange, res = RESULT[x.result] || x.result;
      const ms = x.duration ? (parseFloat(x.duration) * 1000).toFixed(2) : "";
      addRow(`<td>${esc(t)}</td><td>${esc(x.session)}</td><td>${esc(x.method)}</td>
        <td class=url>${esc(x.url)}</td><td>${+x.status || 0}</td><td>${esc(res)}</td>
        <td>${ms}</td>`, res);
    } else if (e.miss) {
      // The live request next to the closest recording, fields that differ.
      const m = e.miss.miss || {}, c = (m.closest || [])[0];
      const diff = c ? `<table class=diff><tr><th>field</th><th>recorded #${+c.interaction_index || 0}</th>
        <th>live</th></tr>${(c.differences || []).map((d) => `<tr><td>${esc(d.field)}</td>
        <td class=rec>${esc(d.recorded)}</td><td class=live>${esc(d.live)}</td></tr>`).join("")}</table>` : "";
      addRow(`<td>${esc(t)}</td><td>${esc(e.miss.session)}</td>
        <td colspan=5>${esc(e.miss.explanation)}${diff}</td>`, "miss");
    } else if (e.session) {
      refreshSessions(); refreshCassettes();
    }
  };
}
refreshSessions(); refreshCassettes(); follow();
setInterval(refreshSessions, 2000);
</script>
</body></html>
)HTML";

}  // namespace

const std::string& IndexHtml() {
  static const std::string* const html = new std::string(kIndexHtml);
  return *html;
}

}  // namespace matgto::admin

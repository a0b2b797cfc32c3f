/**
 * The hub's fleet view in a browser: `GET /` (the page), `/fleet.js` and `/fleet.css`. It asks for the hub
 * admin token (kept in sessionStorage only, for this tab), then shows `GET /api/hub/sites` as a table,
 * refreshed every 5 s. No inline script or style (CSP `default-src 'self'`), no external resources; every
 * value from the API goes into the page as text, never as HTML.
 */
import { Hono } from "hono";

export const FLEET_CSS = `*{box-sizing:border-box}
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#111;background:#f6f7f9}
header{background:#1f2937;color:#fff;padding:.8rem 1.2rem}h1{font-size:1.3rem;margin:0}
main{padding:1rem 1.2rem;max-width:90rem;margin:0 auto}
form{background:#fff;border:1px solid #d0d5dd;border-radius:8px;padding:1rem;max-width:32rem}
label{display:block;font-weight:600;margin-bottom:.3rem}
input{width:100%;padding:.6rem;font:inherit;border:1px solid #667085;border-radius:6px}
button{font:inherit;padding:.55rem 1.1rem;border-radius:6px;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer;min-height:44px}
button.secondary{background:#fff;color:#1d4ed8}
form button{margin-top:.8rem}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
#msg:not(:empty){margin:1rem 0;padding:.7rem 1rem;border-radius:6px;background:#fef3c7;border:1px solid #b45309;font-weight:600}
#msg.error:not(:empty){background:#fee2e2;border-color:#b91c1c;color:#7f1d1d}
.bar{display:flex;flex-wrap:wrap;gap:.8rem;align-items:center;justify-content:space-between;margin-bottom:.6rem}
.scroll{overflow-x:auto;background:#fff;border:1px solid #d0d5dd;border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;font-weight:700;font-size:1.1rem;padding:.7rem .8rem}
th,td{padding:.55rem .7rem;border-top:1px solid #e4e7ec;text-align:left;vertical-align:top;white-space:nowrap}
thead th{background:#f2f4f7;font-size:.8rem;text-transform:uppercase;color:#344054;white-space:normal;vertical-align:bottom}
#caption:focus{outline:none}
tbody th{font-weight:600}
td.num,th.num{text-align:right}
.status{display:inline-block;padding:.05rem .55rem;border-radius:999px;font-size:.85rem;font-weight:600}
.status-active{background:#dcfce7;color:#14532d}.status-revoked{background:#fee2e2;color:#7f1d1d}
.warn{color:#b45309;font-weight:600}
td:last-child{white-space:normal}
ul.wm{margin:0;padding:0;list-style:none;font-size:.85rem}
.muted{color:#475467}
@media (max-width:900px){body{font-size:15px}th,td{padding:.45rem .5rem}main{padding:.8rem}}`;

export const FLEET_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Nexus hub — fleet</title>
<link rel="stylesheet" href="/fleet.css"></head>
<body><header><h1>Nexus hub — fleet</h1></header><main>
<form id="login"><label for="token">Hub admin token</label>
<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required
 aria-describedby="token-help"><p id="token-help" class="muted">In <code>&lt;hub dir&gt;/secrets/hub-admin.token</code>.
Kept in this tab only (sessionStorage).</p><button type="submit">Show the fleet</button></form>
<div id="msg" role="status" aria-live="polite"></div>
<section id="fleet" hidden aria-labelledby="caption">
<div class="bar"><p id="updated" class="muted">Not loaded yet</p>
<button id="forget" type="button" class="secondary">Forget the token</button></div>
<div class="scroll" tabindex="0" role="region" aria-labelledby="caption"><table>
<caption id="caption">Sites enrolled with this hub (refreshed every 5 s)</caption>
<thead><tr><th scope="col">Site</th><th scope="col">Status</th><th scope="col">Last seen</th>
<th scope="col">Version</th><th scope="col">Profile</th><th scope="col" class="num">Changes received</th>
<th scope="col" class="num">Lag (messages)</th><th scope="col" class="num">Lag (seconds)</th>
<th scope="col" class="num">Clock ahead</th><th scope="col">Watermarks per service</th></tr></thead>
<tbody id="rows"></tbody></table></div></section></main>
<script src="/fleet.js"></script></body></html>`;

export const FLEET_JS = `"use strict";
(() => {
  const KEY = "nexus-hub-admin-token";
  const REFRESH_MS = 5000;
  const $ = (id) => document.getElementById(id);
  const form = $("login"), input = $("token"), msg = $("msg"), fleet = $("fleet"), rows = $("rows");
  let timer = null;
  let generation = 0;

  function say(text, error) {
    msg.textContent = text;
    msg.className = error ? "error" : "";
  }
  function ago(iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  const count = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en"));
  const seconds = (n) => (n === null || n === undefined ? "—" : (n < 10 ? Number(n).toFixed(1) : Math.round(n)) + " s");
  function cell(tr, text, opts) {
    const td = document.createElement("td");
    td.textContent = text;
    if (opts && opts.num) td.className = "num";
    if (opts && opts.title) td.title = opts.title;
    if (opts && opts.warn) td.classList.add("warn");
    tr.appendChild(td);
    return td;
  }
  function render(sites) {
    rows.replaceChildren();
    if (sites.length === 0) {
      const tr = document.createElement("tr");
      const td = cell(tr, "No site enrolled yet: create a token with \\u201cnexus hub token <site>\\u201d.");
      td.colSpan = 10;
      rows.appendChild(tr);
      return;
    }
    for (const s of sites) {
      const tr = document.createElement("tr");
      tr.dataset.site = s.id;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = s.name && s.name !== s.id ? s.name + " (" + s.id + ")" : s.id;
      tr.appendChild(th);
      const st = cell(tr, "");
      const badge = document.createElement("span");
      badge.className = "status status-" + (s.status === "active" ? "active" : "revoked");
      badge.textContent = s.status;
      st.appendChild(badge);
      cell(tr, ago(s.lastSeen), { title: s.lastSeen || "" });
      cell(tr, s.version || "—");
      cell(tr, s.profile || "—");
      cell(tr, count(s.received), { num: true });
      cell(tr, count(s.lagMessages), { num: true, warn: s.lagMessages > 0 });
      cell(tr, seconds(s.lagSeconds), { num: true, warn: s.lagSeconds > 60 });
      cell(tr, seconds(s.clockAheadSeconds), { num: true, warn: s.clockAheadSeconds > 0 });
      const wm = cell(tr, "");
      if (!s.watermarks || s.watermarks.length === 0) wm.textContent = "none yet";
      else {
        const ul = document.createElement("ul");
        ul.className = "wm";
        for (const w of s.watermarks) {
          const li = document.createElement("li");
          li.textContent = w.service + ": #" + w.seq + " (" + ago(w.at) + ")";
          li.title = "HLC " + w.hlc;
          ul.appendChild(li);
        }
        wm.appendChild(ul);
      }
      rows.appendChild(tr);
    }
  }
  function stop() {
    generation++;
    if (timer) clearTimeout(timer);
    timer = null;
  }
  function showLogin(focus) {
    stop();
    fleet.hidden = true;
    form.hidden = false;
    input.value = "";
    if (focus) input.focus();
  }
  async function load(gen) {
    const token = sessionStorage.getItem(KEY);
    if (!token) return showLogin(false);
    let res, body;
    try {
      res = await fetch("/api/hub/sites", { headers: { authorization: "Bearer " + token }, cache: "no-store" });
    } catch {
      if (gen !== generation) return;
      say("The hub cannot be reached (network error). Retrying every 5 s; the table shows the last answer.", true);
      timer = setTimeout(() => load(gen), REFRESH_MS);
      return;
    }
    body = await res.json().catch(() => null);
    if (gen !== generation) return;
    if (res.status === 401) {
      sessionStorage.removeItem(KEY);
      showLogin(true);
      say("The hub refused this token (401): enter the hub admin token from <hub dir>/secrets/hub-admin.token.", true);
      return;
    }
    if (!res.ok || !body || !Array.isArray(body.sites)) {
      say("The hub answered " + res.status + ": " + ((body && body.message) || "error") + ". Retrying every 5 s.", true);
    } else {
      render(body.sites);
      $("updated").textContent = "Updated " + new Date().toLocaleTimeString("en-GB") + " \\u2014 " + body.sites.length + " site(s)";
      say("", false);
      if (fleet.hidden) {
        form.hidden = true;
        fleet.hidden = false;
        $("caption").tabIndex = -1;
        $("caption").focus();
      }
    }
    timer = setTimeout(() => load(gen), REFRESH_MS);
  }
  function start() {
    stop();
    load(generation);
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    sessionStorage.setItem(KEY, token);
    say("Loading\\u2026", false);
    start();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    showLogin(true);
    say("Token forgotten.", false);
  });
  if (sessionStorage.getItem(KEY)) start();
})();
`;

const HEADERS = {
  "content-security-policy":
    "default-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-cache",
};

/** `GET /`, `/fleet.js`, `/fleet.css`, with the security headers. */
export function fleetPage(): Hono {
  const app = new Hono();
  const serve = (body: string, type: string) => () =>
    new Response(body, { headers: { ...HEADERS, "content-type": `${type}; charset=utf-8` } });
  app.get("/", serve(FLEET_HTML, "text/html"));
  app.get("/fleet.js", serve(FLEET_JS, "text/javascript"));
  app.get("/fleet.css", serve(FLEET_CSS, "text/css"));
  // Browsers ask for it on their own; an empty answer keeps a 404 out of their console.
  app.get("/favicon.ico", () => new Response(null, { status: 204, headers: HEADERS }));
  return app;
}

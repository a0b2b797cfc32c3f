/**
 * The pages the gateway serves when the web console was not built (dist/console missing): a landing page
 * that says so, and a minimal first-boot setup form (the link `nexus up` prints). No inline script
 * (CSP `default-src 'self'`), no external resources.
 */

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#111}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}
button{margin-top:1rem;padding:.6rem 1.2rem;font:inherit}#msg{margin-top:1rem;font-weight:600}`;

export const LANDING_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Nexus Edge</title><style>${STYLE}</style></head>
<body><h1>Nexus Edge</h1><p>The appliance is running, but its web console was not built: run
<code>npm run build</code> (it writes <code>dist/console</code>) and restart the appliance. The API is at
<code>/api/&lt;service&gt;/</code> (OpenAPI: <code>/api/openapi.json</code>), health at <a href="/health">/health</a>.</p>
</body></html>`;

export const SETUP_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Nexus Edge — first admin</title>
<style>${STYLE}</style></head><body><h1>Create the first admin</h1>
<p>This one-time link creates the box's first administrator account.</p>
<form id="setup"><label for="username">Username</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password (at least 10 characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="10" required>
<button type="submit">Create admin</button></form><p id="msg" role="status" aria-live="polite"></p>
<script src="/setup.js"></script></body></html>`;

export const SETUP_JS = `document.getElementById("setup").addEventListener("submit", async (e) => {
  e.preventDefault();
  const msg = document.getElementById("msg");
  const token = new URLSearchParams(location.search).get("token") || "";
  const body = { token, username: e.target.username.value, password: e.target.password.value };
  try {
    const res = await fetch("/api/identity/setup", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const data = await res.json();
    msg.textContent = res.ok ? "Admin " + data.username + " created. You can now log in." : data.message;
  } catch {
    msg.textContent = "The appliance cannot be reached.";
  }
});`;

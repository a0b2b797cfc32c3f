/**
 * `npm run bench -- auth`: what authentication costs at the gateway.
 * - token_verifications_per_s: ES256 access-token verifications per second (appliance/kit/jwt.ts, the code the
 *   gateway runs for every bearer request), in this process, for 2 s;
 * - through the gateway, the same echo handler as a public route (`/api/echo/public/hello`, no credentials)
 *   and as an authenticated one (`/api/echo/hello`) with a bearer token, an API key and a session cookie;
 *   `auth_overhead_ratio` = bearer-token requests/s ÷ public requests/s, measured in the same run.
 * The load generator is the gateway benchmark's (a child process, closed loop, keep-alive).
 */
import { type Jwk, verifyJwt } from "../../appliance/kit/jwt.js";
import { startTestAppliance } from "../helpers/appliance.js";
import { runLoad } from "./load.js";
import { envNumber, median, metric, note, onCleanup, removeAppliance } from "./util.js";

async function json<T>(res: Response): Promise<T> {
  if (!res.ok) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function authBench(): Promise<void> {
  const connections = envNumber("BENCH_CONNECTIONS", 32);
  const warmupMs = envNumber("BENCH_WARMUP_S", 1) * 1000;
  const durationMs = envNumber("BENCH_DURATION_S", 5) * 1000;
  const rounds = envNumber("BENCH_ROUNDS", 2);

  const app = await startTestAppliance({
    services: ["identity", "echo"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000000", NEXUS_LOG_LEVEL: "warn" },
  });
  const undo = onCleanup(() => removeAppliance(app));
  try {
    const first = await app.firstLogin();
    if (first.kind !== "setup") throw new Error(`expected a setup link, got ${first.kind}`);
    const token = new URL(first.url).searchParams.get("token");
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${app.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    await json(
      await post("/api/identity/setup", { token, username: "bench", password: "measure-the-gateway-42" }),
    );
    const loginRes = await post("/api/identity/login", {
      username: "bench",
      password: "measure-the-gateway-42",
    });
    const login = await json<{ token: string }>(loginRes.clone());
    const cookie = (loginRes.headers.getSetCookie?.() ?? [])
      .map((c) => c.split(";")[0])
      .filter((c) => c?.startsWith("nexus_session="))
      .join("; ");
    const key = await json<{ secret: string }>(
      await post(
        "/api/identity/me/api-keys",
        { name: "bench", permissions: ["system:read"] },
        { authorization: `Bearer ${login.token}` },
      ),
    );

    // Verification rate of the code the gateway runs per bearer request.
    const { keys } = await json<{ keys: Jwk[] }>(await fetch(`${app.url}/api/identity/jwks`));
    const jwks = new Map(keys.map((k) => [k.kid, k]));
    const expect = { iss: "nexus-edge:local", aud: "nexus-edge" };
    let n = 0;
    const until = performance.now() + 2000;
    while (performance.now() < until) {
      for (let i = 0; i < 50; i++) if (verifyJwt(login.token, jwks, expect).ok) n++;
    }
    metric("token_verifications_per_s", Math.round(n / 2), 0);

    const targets: Record<string, { path: string; headers: Record<string, string> }> = {
      public: { path: "/api/echo/public/hello", headers: {} },
      token: { path: "/api/echo/hello", headers: { authorization: `Bearer ${login.token}` } },
      apikey: { path: "/api/echo/hello", headers: { authorization: `Bearer ${key.secret}` } },
      session: { path: "/api/echo/hello", headers: { cookie } },
    };
    for (const [name, t] of Object.entries(targets)) {
      const res = await fetch(`${app.url}${t.path}`, { headers: t.headers });
      if (res.status !== 200) throw new Error(`${name}: ${res.status} ${await res.text()}`);
    }
    const port = app.port;
    const rps: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const [name, t] of Object.entries(targets)) {
        const { result } = await runLoad({
          port,
          path: t.path,
          headers: t.headers,
          connections,
          warmupMs,
          durationMs,
        });
        if (result.errors || result.non2xx)
          throw new Error(`${name}: ${result.errors} errors, ${result.non2xx} non-2xx`);
        rps[name] = [...(rps[name] ?? []), result.rps];
        note(`round ${r + 1} ${name}: ${Math.round(result.rps)} req/s, p99 ${result.p99Ms.toFixed(2)} ms`);
      }
    }
    const m = Object.fromEntries(Object.entries(rps).map(([k, v]) => [k, median(v)]));
    metric("public_rps", Math.round(m.public!), 0);
    metric("token_rps", Math.round(m.token!), 0);
    metric("apikey_rps", Math.round(m.apikey!), 0);
    metric("session_rps", Math.round(m.session!), 0);
    metric("apikey_overhead_ratio", m.apikey! / m.public!);
    metric("session_overhead_ratio", m.session! / m.public!);
    metric("auth_overhead_ratio", m.token! / m.public!);
  } finally {
    undo();
    await removeAppliance(app);
  }
}

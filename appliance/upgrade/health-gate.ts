/**
 * The upgrade's health gate: the new version passes when, within the window, its supervisor answers with the
 * expected version, every service is running (so its migrations ran), smoke requests through the gateway
 * answer 200, and nothing restarts for a settle period after that. A crash loop fails it at once.
 */
import { controlRequest } from "../control.js";
import { readPid } from "../lib/pidfile.js";
import { dataPaths } from "../paths.js";
import type { ServiceStatus } from "../supervisor/status.js";
import { lastLoggedError } from "./log-errors.js";

/** The part of the control API's `GET /status` the gate reads. */
interface StatusReply {
  version: string;
  gateway: string;
  services: ServiceStatus[];
}

/** The running supervisor's status (the CLI's fetchStatus, which this layer may not import). */
async function fetchStatus(dataDir: string): Promise<StatusReply | null> {
  const paths = dataPaths(dataDir);
  if (!readPid(paths.supervisorPid)) return null;
  return controlRequest<StatusReply>(paths.controlSocket, "GET", "/status", 5000).catch(() => null);
}

export interface GateOptions {
  windowMs: number;
  /** How long the services must then stay up without a restart. */
  settleMs: number;
  pollMs?: number;
}

export type GateResult = { ok: true; seconds: number } | { ok: false; reason: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** This many restarts of one service inside the gate's window fail it. */
export const RESTART_LIMIT = 3;

/** The smoke requests through the gateway: health, readiness, the console page (public, from the build). */
export const SMOKE_PATHS = ["/health", "/ready", "/"];

async function smoke(gateway: string): Promise<string | null> {
  for (const path of SMOKE_PATHS) {
    const res = await fetch(`${gateway}${path}`, { signal: AbortSignal.timeout(10_000) }).catch(
      (e: Error) => ({ status: 0, statusText: e.message }),
    );
    if (res.status !== 200) return `smoke request ${path} answered ${res.status || res.statusText}`;
  }
  return null;
}

/** Why the box is not healthy yet (null: healthy), or a fatal reason (crash loop). */
function judge(s: StatusReply | null, version: string): { wait?: string; fail?: string } {
  if (!s) return { wait: "the supervisor does not answer" };
  if (s.version !== version) return { wait: `version ${s.version} answers, not ${version}` };
  // The supervisor is fresh: restarts counted now all happened in this window (a crash loop forming before
  // the supervisor's own threshold and backoff call it one).
  const looping = s.services.find((x) => x.state === "crashloop" || x.restarts >= RESTART_LIMIT);
  if (looping)
    return {
      fail: `service ${looping.name} in crash loop (${looping.restarts} restarts): ${looping.lastError ?? "no error recorded"}`,
    };
  const notUp = s.services.filter((x) => x.state !== "running");
  if (notUp.length) {
    const first = notUp[0];
    return {
      wait: `not running: ${notUp.map((x) => `${x.name} (${x.state})`).join(", ")}${first?.lastError ? ` — ${first.lastError}` : ""}`,
    };
  }
  return {};
}

/** Waits for `version` on `dataDir` to be healthy; the reason (with the last logged error) when it is not. */
export async function healthGate(dataDir: string, version: string, o: GateOptions): Promise<GateResult> {
  const t0 = Date.now();
  const r = await gate(dataDir, version, o);
  if (r.ok) return r;
  const logged = lastLoggedError(dataPaths(dataDir).logs, t0);
  return logged ? { ok: false, reason: `${r.reason}; last error logged: ${logged}` } : r;
}

async function gate(dataDir: string, version: string, o: GateOptions): Promise<GateResult> {
  const t0 = Date.now();
  const deadline = t0 + o.windowMs;
  const poll = o.pollMs ?? 300;
  let last = "nothing checked yet";
  let passedAt: number | null = null;
  let restarts = 0;
  while (Date.now() < deadline) {
    const s = await fetchStatus(dataDir);
    const v = judge(s, version);
    if (v.fail) return { ok: false, reason: v.fail };
    const total = s?.services.reduce((n, x) => n + x.restarts, 0) ?? 0;
    if (v.wait) {
      last = v.wait;
      if (passedAt !== null) return { ok: false, reason: `after becoming healthy: ${v.wait}` };
    } else if (passedAt === null) {
      const bad = await smoke((s as StatusReply).gateway);
      if (bad) last = bad;
      else {
        passedAt = Date.now();
        restarts = total;
      }
    } else if (total > restarts) {
      return { ok: false, reason: "a service restarted during the settle period (crash loop starting)" };
    } else if (Date.now() - passedAt >= o.settleMs) {
      return { ok: true, seconds: (Date.now() - t0) / 1000 };
    }
    await sleep(poll);
  }
  return { ok: false, reason: `not healthy within ${Math.round(o.windowMs / 1000)} s: ${last}` };
}

/**
 * `nexus enroll <hub-url> <token>`: trades a one-time enrolment token for this box's site credentials, stores
 * them (secrets/hub.json, 0600) and sets the box's site id to the one the hub assigned. The next start runs
 * nats-server with JetStream domain = site id and a leafnode link to the hub. Enrolment changes the site id
 * that tokens and events carry, so it is done on a stopped box.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { loadApplianceConfig } from "./config/load.js";
import { SITE_ID } from "./lib/names.js";
import { isAlive, readPid } from "./lib/pidfile.js";
import { applianceVersion, dataPaths } from "./paths.js";
import type { HubLink } from "./sync/hub-link.js";

const answerSchema = z.object({
  site: z.string().regex(SITE_ID),
  leafnodeUrl: z.string().regex(/^nats-leaf:\/\/[^\s/]+$/),
  user: z.string().min(1).max(128),
  password: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/),
  leafnodeTls: z.boolean().default(false),
  leafnodeCa: z
    .preprocess(
      // Tolerate what PEM files carry in practice: CRLF line ends and blank lines between certificates.
      (v) =>
        typeof v === "string"
          ? v
              .replace(/\r\n/g, "\n")
              .replace(/\n{2,}/g, "\n")
              .trimStart()
          : v,
      z
        .string()
        .max(65_536)
        .regex(/^(-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?)+$/),
    )
    .optional(),
});

export class EnrolError extends Error {}

/** How many times enrolment is tried while the hub answers 503 (not ready). */
export const ENROL_ATTEMPTS = 5;

/** A Retry-After in seconds, as milliseconds between 0 and 10 s; 2 s when absent or a date. */
export function retryAfterMs(header: string | null): number {
  const s = header === null || header.trim() === "" ? Number.NaN : Number(header);
  return Number.isFinite(s) ? Math.min(Math.max(s, 0), 10) * 1000 : 2000;
}

export async function enroll(opts: {
  dataDir: string;
  hubUrl: string;
  token: string;
  fetchImpl?: typeof fetch;
  /** Allow http:// to a host that is not this machine (the token and the site password cross in the clear). */
  allowHttp?: boolean;
}): Promise<HubLink> {
  const paths = dataPaths(opts.dataDir);
  const pid = readPid(paths.supervisorPid);
  if (pid && isAlive(pid)) {
    throw new EnrolError(
      "the appliance is running: stop it first (nexus stop), enroll, then start it (nexus up)",
    );
  }
  let hub: URL;
  try {
    hub = new URL(opts.hubUrl);
  } catch {
    throw new EnrolError(`not a URL: ${opts.hubUrl}`);
  }
  if (hub.protocol !== "http:" && hub.protocol !== "https:")
    throw new EnrolError("the hub URL is http(s)://…");
  if (hub.protocol === "http:" && !isLoopback(hub.hostname) && !opts.allowHttp)
    throw new EnrolError(
      `${hub.origin} is plain http to another machine: the token and this site's password would cross the ` +
        "network in the clear. Use the hub's https:// address (docs/hub.md), or --allow-http on a network you trust",
    );
  if (!/^[A-Za-z0-9_-]{20,200}$/.test(opts.token))
    throw new EnrolError("that does not look like an enrolment token");
  const config = loadApplianceConfig({ dataDir: opts.dataDir });
  let res: Response;
  let body: { message?: string } | null;
  // 503: the hub could not finish (its NATS server busy or restarting) and kept the token unspent; it says
  // when to try again (Retry-After), and the box does, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      res = await (opts.fetchImpl ?? fetch)(new URL("/api/hub/enrol", hub), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: opts.token, version: applianceVersion(), profile: config.profile }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new EnrolError(`cannot reach the hub at ${hub.origin}: ${(err as Error).message}`);
    }
    body = (await res.json().catch(() => null)) as { message?: string } | null;
    if (res.status !== 503 || attempt >= ENROL_ATTEMPTS) break;
    await new Promise((r) => setTimeout(r, retryAfterMs(res.headers.get("retry-after"))));
  }
  if (res.status === 503)
    throw new EnrolError(
      `the hub is not ready: ${body?.message ?? "503"} (tried ${ENROL_ATTEMPTS} times). The token was not ` +
        "spent: run the same nexus enroll again in a minute",
    );
  if (!res.ok) throw new EnrolError(`the hub refused: ${body?.message ?? res.status}`);
  const parsed = answerSchema.safeParse(body);
  if (!parsed.success) throw new EnrolError("the hub's answer is not a valid enrolment");
  const link: HubLink = { hubUrl: hub.origin, ...parsed.data, enrolledAt: new Date().toISOString() };
  mkdirSync(paths.secrets, { recursive: true, mode: 0o700 });
  writeFileSync(paths.hubLink, JSON.stringify(link, null, 2), { mode: 0o600 });
  setSite(paths.config, link.site);
  return link;
}

/** This machine: localhost, 127.0.0.0/8 or ::1 (URL.hostname keeps an IPv6 address in brackets). */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Writes `site` into config.json, keeping everything else in it. */
function setSite(file: string, site: string): void {
  let current: Record<string, unknown> = {};
  try {
    current = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    // no config.json yet
  }
  writeFileSync(file, `${JSON.stringify({ ...current, site }, null, 2)}\n`, { mode: 0o600 });
}

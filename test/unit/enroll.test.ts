/**
 * The box's side of enrolment against hub answers of every shape (a real hub is in test/integration/sync*):
 * what it stores, what it tolerates in a CA bundle, what it refuses before anything is written.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ENROL_ATTEMPTS, EnrolError, enroll, isLoopback, retryAfterMs } from "../../appliance/enroll.js";
import { leafTls } from "../../appliance/hub/leaf-tls.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const dirs: string[] = [];
const fresh = () => {
  const d = tempDir("nexus-enroll-");
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) removeDir(d);
});

const base = {
  site: "depot-7",
  leafnodeUrl: "nats-leaf://hub.example.org:7422",
  user: "depot-7",
  password: "p".repeat(32),
};
const answering =
  (body: unknown, status = 201): typeof fetch =>
  async () =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const TOKEN = "t".repeat(43);

describe("enroll", () => {
  it("stores a plain-link answer from a hub without leafnode TLS", async () => {
    const dir = fresh();
    const link = await enroll({
      dataDir: dir,
      hubUrl: "https://hub.example.org",
      token: TOKEN,
      fetchImpl: answering(base),
    });
    expect(link).toMatchObject({ site: "depot-7", leafnodeTls: false });
    expect(link.leafnodeCa).toBeUndefined();
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).site).toBe("depot-7");
  });

  it("takes a CA bundle with CRLF line ends and blank lines, and stores it clean", async () => {
    const ca = leafTls("auto", fresh(), ["hub.example.org"])!.caPem!.trim();
    const messy = `${ca.replace(/\n/g, "\r\n")}\r\n\r\n${ca}\n\n`;
    const dir = fresh();
    const link = await enroll({
      dataDir: dir,
      hubUrl: "https://hub.example.org",
      token: TOKEN,
      fetchImpl: answering({ ...base, leafnodeTls: true, leafnodeCa: messy }),
    });
    expect(link.leafnodeCa).toBe(`${ca}\n${ca}\n`);
    const stored = JSON.parse(readFileSync(join(dir, "secrets", "hub.json"), "utf8"));
    expect(stored).toMatchObject({ leafnodeTls: true, leafnodeCa: `${ca}\n${ca}\n` });
  });

  it("refuses an answer that is not a valid enrolment, and writes nothing", async () => {
    for (const bad of [
      { ...base, leafnodeCa: "-----BEGIN CERTIFICATE-----\n<script>\n-----END CERTIFICATE-----\n" },
      { ...base, leafnodeCa: "x".repeat(70_000) },
      { ...base, leafnodeTls: "yes" },
      { ...base, site: "../etc" },
      { ...base, leafnodeUrl: "nats-leaf://hub example" },
    ]) {
      const dir = fresh();
      await expect(
        enroll({ dataDir: dir, hubUrl: "https://hub.example.org", token: TOKEN, fetchImpl: answering(bad) }),
      ).rejects.toThrow(EnrolError);
      expect(existsSync(join(dir, "secrets", "hub.json"))).toBe(false);
      expect(existsSync(join(dir, "config.json"))).toBe(false);
    }
  });

  it("tries again while the hub answers 503 (not ready, token kept), as long as Retry-After says", async () => {
    const answers = [503, 503, 201];
    const calls: number[] = [];
    const hubStarting: typeof fetch = async () => {
      const status = answers[calls.length] ?? 201;
      calls.push(Date.now());
      const body = status === 503 ? { status, message: "the hub's NATS server is not ready" } : base;
      return new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json", "retry-after": "0" },
      });
    };
    const link = await enroll({
      dataDir: fresh(),
      hubUrl: "https://hub.example.org",
      token: TOKEN,
      fetchImpl: hubStarting,
    });
    expect(link.site).toBe("depot-7");
    expect(calls).toHaveLength(3);
  });

  it("gives up on a hub that stays unready, saying the token was not spent; other refusals at once", async () => {
    let calls = 0;
    const counting =
      (status: number, message: string): typeof fetch =>
      async () => {
        calls++;
        return new Response(JSON.stringify({ status, message }), {
          status,
          headers: { "content-type": "application/json", "retry-after": "0" },
        });
      };
    const dir = fresh();
    const opts = { dataDir: dir, hubUrl: "https://hub.example.org", token: TOKEN };
    await expect(enroll({ ...opts, fetchImpl: counting(503, "busy") })).rejects.toThrow(
      /the hub is not ready: busy .*not spent/,
    );
    expect(calls).toBe(ENROL_ATTEMPTS);
    calls = 0;
    await expect(enroll({ ...opts, fetchImpl: counting(500, "internal error") })).rejects.toThrow(
      "the hub refused: internal error",
    );
    expect(calls).toBe(1);
    expect(existsSync(join(dir, "secrets", "hub.json"))).toBe(false);
  });

  it("reads Retry-After in seconds, within 0 to 10 s", () => {
    expect(retryAfterMs("3")).toBe(3000);
    expect(retryAfterMs("0")).toBe(0);
    expect(retryAfterMs("3600")).toBe(10_000);
    expect(retryAfterMs(null)).toBe(2000);
    expect(retryAfterMs("Wed, 21 Oct 2026 07:28:00 GMT")).toBe(2000);
  });

  it("knows which hosts are this machine", () => {
    for (const h of ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "::1", "LOCALHOST"])
      expect(isLoopback(h)).toBe(true);
    for (const h of [
      "0.0.0.0",
      "10.0.0.1",
      "hub.example.org",
      "127.0.0.1.evil.org",
      "[fe80::1]",
      "localhost.evil",
    ])
      expect(isLoopback(h)).toBe(false);
  });
});

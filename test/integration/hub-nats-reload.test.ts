/**
 * The hub's nats-server reload (a new site user at enrolment, one fewer at revocation) is done only when
 * nats-server says so. It applies a SIGHUP asynchronously, and until it has finished, its JetStream API has no
 * responders: the enrolment that created the site's stream right after a fixed 300 ms wait got NATS 503 under
 * load ("the hub refused: internal error"). A stopped (SIGSTOP) nats-server stands in for a slow one.
 * An enrolment the hub still cannot complete gets 503 and Retry-After, and its token stays good for a retry.
 */
import { openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enroll } from "../../appliance/enroll.js";
import { edgeStream, ensureEdgeStream } from "../../appliance/hub/ingest.js";
import { type HubNats, hubNatsConfig, startHubNats } from "../../appliance/hub/nats.js";
import { freePort } from "../../appliance/lib/ports.js";
import { removeDir, tempDir, waitFor } from "../helpers/appliance.js";
import { enrolToken, type HubProcess, hubProcess, teardown, withHubLog } from "../helpers/hub.js";
import { stopChild } from "../helpers/processes.js";

const hubUser = { user: "nexus-hub", pass: "hub-password" };
const SITE_PASSWORD = "site-password";
const HASH = bcrypt.hashSync(SITE_PASSWORD, 4);
const site = (id: string) => ({ site: id, user: id, passwordHash: HASH });

let dir: string;
let nats: HubNats;
let nc: NatsConnection;
let logFile: string;

beforeAll(async () => {
  dir = tempDir("nexus-hub-nats-");
  const clientPort = await freePort();
  const leafPort = await freePort();
  logFile = join(dir, "nats.log");
  nats = await startHubNats({
    bin: "nats-server",
    confFile: join(dir, "nats.conf"),
    pidFile: join(dir, "nats.pid"),
    config: (sites) =>
      hubNatsConfig({
        clientPort,
        leafHost: "127.0.0.1",
        leafPort,
        storeDir: join(dir, "jetstream"),
        hubUser: { user: hubUser.user, passwordHash: hubUser.pass },
        sites,
      }),
    sites: [],
    clientPort,
    user: hubUser.user,
    pass: hubUser.pass,
    logFd: openSync(logFile, "a", 0o600),
    logFile,
    reloadTimeoutMs: 15_000,
  });
  nc = await connect({ servers: nats.url, user: hubUser.user, pass: hubUser.pass });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await stopChild(nats?.child, "SIGTERM", 10_000);
  if (dir) removeDir(dir);
});

describe("hub nats-server reload", () => {
  it("resolves only once nats-server has applied it, and its JetStream API answers right after", async () => {
    const child = nats.child!;
    child.kill("SIGSTOP"); // a server too busy to get to the reload yet
    let done = false;
    const reload = nats.reload([site("site-a")]).then(() => {
      done = true;
    });
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      expect(done).toBe(false);
    } finally {
      child.kill("SIGCONT");
    }
    await reload;
    // What enrolment does next: the site's stream on the hub, with no wait of its own.
    const jsm = await nc.jetstreamManager();
    await ensureEdgeStream(jsm, "site-a");
    expect((await jsm.streams.info(edgeStream("site-a"))).config.name).toBe(edgeStream("site-a"));
  });

  it("reloads one at a time: each resolves after its own configuration is in force", async () => {
    await Promise.all([nats.reload([site("site-a")]), nats.reload([site("site-a"), site("site-b")])]);
    // The later one is in force: site-b, added by it, can connect.
    const asB = await connect({ servers: nats.url, user: "site-b", pass: SITE_PASSWORD, reconnect: false });
    await asB.close();
    const jsm = await nc.jetstreamManager();
    await ensureEdgeStream(jsm, "site-b");
  });

  it("rejects, with nats-server's reason, a configuration it refuses", async () => {
    await expect(nats.reload([{ site: "bad", user: "bad", passwordHash: "" }, site("bad")])).rejects.toThrow(
      /refused its new configuration/,
    );
    // Still serving, on the configuration it had.
    const jsm = await nc.jetstreamManager();
    await jsm.getAccountInfo();
  });
});

describe("an enrolment the hub cannot complete", () => {
  let hub: HubProcess;
  beforeAll(async () => {
    hub = await hubProcess({ env: { NEXUS_HUB_NATS_RELOAD_TIMEOUT_MS: "3000" } });
    await hub.start();
  }, 120_000);
  afterAll(() => teardown([], hub));

  it("gets 503 with Retry-After, and the same token enrols once nats-server answers", async () => {
    const token = await enrolToken(hub, "site-later");
    const pid = hub.natsPid();
    const reloads = () =>
      readFileSync(join(hub.dir, "logs", "nats.log"), "utf8").split("Reloaded server configuration").length;
    const before = reloads();
    process.kill(pid, "SIGSTOP");
    let res: Response;
    try {
      res = await fetch(`${hub.url()}/api/hub/enrol`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token }),
      });
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expect(res.status, hub.logTail()).toBe(503);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(((await res.json()) as { message: string }).message).toMatch(/try again/);
    expect(hub.logTail()).toMatch(/did not confirm its reload within 3000 ms/);
    // The reload it had asked for, applied now that it runs again.
    await waitFor(() => reloads() > before, 30_000, "the pending reload");
    const dataDir = tempDir("nexus-enrol-");
    try {
      const link = await enroll({ dataDir, hubUrl: hub.url(), token });
      expect(link.site).toBe("site-later");
    } catch (err) {
      throw withHubLog(err, hub);
    } finally {
      removeDir(dataDir);
    }
  });
});

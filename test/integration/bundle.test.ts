/**
 * The installable appliance end to end: a real bundle (bundled Node, production node_modules, nats-server,
 * signed manifest) built once, installed into a temp root with install.sh --no-systemd, upgraded, rolled back
 * by its health gate (a failing migration, a crash loop), refusing tampered and foreign-signed bundles before
 * anything changes, and ending consistent after a kill -9 at every upgrade step. Needs `npm run build`.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HubLink } from "../../appliance/sync/hub-link.js";
import { readHubLink } from "../../appliance/sync/hub-link.js";
import { downloadOffer, hubOffer, reportToHub } from "../../appliance/upgrade/from-hub.js";
import { type BuiltBundle, pack, restage, signStaged } from "../../installer/bundle/build.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { enrolToken, enrolWith, type HubProcess, hubProcess } from "../helpers/hub.js";
import { buildTestBundle, InstalledBox, run } from "../helpers/installed.js";

const STEPS = ["installed", "stopped", "snapshot", "switched", "started", "committed"] as const;
const RUNTIME_CHECK = join(import.meta.dirname, "../fixtures/installed-runtime.mjs");
let tmp: string;
let key: KeyObject;
let pubFile: string;
let built: BuiltBundle;
let box: InstalledBox;

/** Another version of the built bundle (a copy with its version rewritten and signed again). */
async function version(v: string, edits: Record<string, (t: string) => string> = {}, signer = key) {
  const dir = join(tmp, `nexus-${v}`);
  await restage(built.stageDir, dir, v, signer, edits);
  return dir;
}

/** A build whose first new migration changes data and whose second one throws. */
const migrationFails = {
  "app/dist/services/system/migrations.js": (t: string) =>
    `${t}\nmigrations.push({ id: "1799999990_touch", up: (db) => db.exec("UPDATE settings SET value = 'migrated'") },` +
    ` { id: "1799999991_broken", up: () => { throw new Error("migration 1799999991_broken failed on purpose"); } });\n`,
};
/** A build whose system service exits right after starting. */
const crashes = {
  "app/dist/services/system/index.js": (t: string) => `${t}\nsetTimeout(() => process.exit(3), 50);\n`,
};

function snapshotOfInstall(): string {
  const opt = join(box.root, "opt/nexus");
  return JSON.stringify({
    opt: readdirSync(opt).sort(),
    current: box.version(),
    env: readFileSync(join(box.root, "etc/nexus/nexus.env"), "utf8"),
    marker: existsSync(join(opt, "upgrade.json")),
  });
}

beforeAll(async () => {
  tmp = tempDir("nexus-bundle-");
  ({ built, key, pubFile } = await buildTestBundle(tmp));
  box = new InstalledBox(join(tmp, "root"));
  await box.configure();
}, 240_000);

afterAll(async () => {
  await box?.stop().catch(() => {});
  if (tmp) removeDir(tmp);
}, 120_000);

describe("bundle → install → upgrade → rollback", { timeout: 300_000 }, () => {
  it("packs a signed tar.gz that install.sh installs into a root and starts healthy", async () => {
    expect(built.file).toMatch(/nexus-0\.1\.0-linux-(x86_64|aarch64)\.tar\.gz$/);
    expect(built.bytes).toBeGreaterThan(10e6);
    expect(built.notes.join("\n")).toMatch(/better_sqlite3\.node/);
    const unpacked = join(tmp, "usb");
    expect(
      (await run("sh", ["-c", `mkdir -p ${unpacked} && tar -xzf ${built.file} -C ${unpacked}`])).code,
    ).toBe(0);
    const bundle = join(unpacked, "nexus-0.1.0");
    const noKey = await run("sh", [join(bundle, "install.sh"), "--root", box.root, "--no-systemd"]);
    expect(noKey.code).not.toBe(0);
    expect(noKey.out).toMatch(/--trust-key/);
    const r = await run("sh", [
      join(bundle, "install.sh"),
      "--root",
      box.root,
      "--no-systemd",
      "--trust-key",
      pubFile,
    ]);
    expect(r.out).toMatch(/signature and \d+ checksums verified/);
    expect(r.out).toMatch(/Nexus Edge 0\.1\.0: installed/);
    expect(r.out).toMatch(/Console: +http:\/\/127\.0\.0\.1:\d+\//);
    expect(r.code).toBe(0);
    expect(box.version()).toBe("0.1.0");
    const s = await box.status();
    expect(s).toMatchObject({ running: true, version: "0.1.0" });
    expect(s.services.every((x: { state: string }) => x.state === "running")).toBe(true);
    // The install kept the build's file times, so the box runs the bundle, not the plain dist/ files.
    expect(readFileSync(`/proc/${s.services[0].pid}/cmdline`, "utf8")).toContain("/dist/bundle/host.js");
    expect(
      (await box.api("/api/system/settings/color", { method: "PUT", body: '{"value":"blue"}' })).status,
    ).toBe(200);
    // Idempotent: the same bundle again changes nothing.
    const again = await run("sh", [join(bundle, "install.sh"), "--root", box.root, "--no-systemd"]);
    expect(again.out).toMatch(/0\.1\.0: unchanged/);
    expect(existsSync(join(box.root, "usr/local/bin/nexus"))).toBe(true);
  });

  it("the installed bundle runs AI (the built-in packs' models load and run) and media (ffmpeg transcodes)", async () => {
    const versionDir = join(box.root, "opt/nexus/0.1.0");
    const r = await run(join(versionDir, "node/bin/node"), [RUNTIME_CHECK, versionDir, tmp]);
    expect(r.code, r.out).toBe(0);
    const got = JSON.parse(r.out.trim().split("\n").at(-1) as string);
    expect(got.onnx.map((m: { name: string }) => m.name).sort()).toEqual([
      "ppocr-cls",
      "ppocr-det",
      "ppocr-rec",
      "silero-vad",
    ]);
    expect(got.embedding).toBe(512);
    expect(got.codec).toBe("h264");
    // Pruned: no other platform's onnxruntime, no browser wasm builds.
    const nm = join(versionDir, "app/node_modules");
    expect(existsSync(join(nm, "onnxruntime-web"))).toBe(false);
    expect(readdirSync(join(nm, "onnxruntime-node/bin/napi-v6"))).toEqual(["linux"]);
  });

  it("upgrades to a higher version; the data is intact", async () => {
    const r = await box.upgrade(await version("0.2.0"));
    expect(r.out).toMatch(/0\.2\.0: committed/);
    expect(r.code).toBe(0);
    expect(box.version()).toBe("0.2.0");
    expect((await box.status()).version).toBe("0.2.0");
    expect(await box.setting("color")).toBe("blue");
    expect(JSON.parse(readFileSync(join(box.dataDir, "last-upgrade.json"), "utf8"))).toMatchObject({
      outcome: "committed",
      from: "0.1.0",
      to: "0.2.0",
    });
  });

  it("rolls back a build whose migration fails: old version, data as before, reason kept", async () => {
    const r = await box.upgrade(await version("0.3.0", migrationFails));
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/Rolled back to 0\.2\.0/);
    expect(box.version()).toBe("0.2.0");
    expect(await box.servedVersion()).toBe("0.2.0");
    expect(await box.setting("color")).toBe("blue");
    const last = JSON.parse(readFileSync(join(box.dataDir, "last-upgrade.json"), "utf8"));
    expect(last).toMatchObject({ outcome: "rolled-back", from: "0.2.0", to: "0.3.0" });
    expect(last.reason).toMatch(/system/);
    expect(existsSync(join(box.root, "opt/nexus/0.3.0"))).toBe(false);
  });

  it("rolls back a build whose service crash-loops", async () => {
    const r = await box.upgrade(await version("0.3.1", crashes));
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/crash loop|restarted|not healthy/);
    expect(box.version()).toBe("0.2.0");
    expect(await box.setting("color")).toBe("blue");
  });

  it("refuses a tampered bundle, a foreign-signed one and a downgrade before anything changes", async () => {
    const before = snapshotOfInstall();
    const tampered = await version("0.4.0");
    const f = join(tampered, "app/dist/appliance/paths.js");
    const bytes = readFileSync(f);
    bytes[100] = (bytes[100] as number) ^ 1;
    rmSync(f); // a hard link to the built bundle's file: change a copy
    writeFileSync(f, bytes);
    const foreign = await version("0.4.1", undefined, generateKeyPairSync("ed25519").privateKey);
    for (const dir of [tampered, foreign]) {
      const viaCli = await box.upgrade(dir);
      expect(viaCli.code).toBe(1);
      expect(viaCli.out).toMatch(/refused: (checksum mismatch|signature does not verify)/);
      const viaSh = await run("sh", [join(dir, "install.sh"), "--root", box.root, "--no-systemd"]);
      expect(viaSh.code).not.toBe(0);
      expect(viaSh.out).toMatch(/refused/);
    }
    const down = await box.upgrade(built.stageDir);
    expect(down.out).toMatch(/older than the installed 0\.2\.0/);
    expect(snapshotOfInstall()).toBe(before);
    expect(await box.servedVersion()).toBe("0.2.0");
  });

  it.each(STEPS.map((s, i) => [s, i]))(
    "after kill -9 at step %s, the next start ends in a consistent version",
    async (step, i) => {
      const from = box.version() as string;
      const to = `0.5.${i}`;
      const r = await box.upgrade(await version(to), [], { NEXUS_UPGRADE_TEST_CRASH_AT: step });
      expect(r.code).toBe(137);
      await box.powerCut();
      const resumed = await box.cli(["upgrade", "--resume", "--no-systemd"]);
      expect(resumed.code).toBe(0);
      const expected = step === "committed" ? to : from;
      expect(resumed.out).toMatch(step === "committed" ? /committed/ : /rolled-back/);
      expect(box.version()).toBe(expected);
      expect(existsSync(join(box.root, "opt/nexus/upgrade.json"))).toBe(false);
      await expect.poll(() => box.servedVersion(), { timeout: 60_000 }).toBe(expected);
      await expect.poll(() => box.setting("color"), { timeout: 30_000 }).toBe("blue");
    },
  );

  it("a kill -9 during a rollback ends rolled back too", async () => {
    const from = box.version();
    const r = await box.upgrade(await version("0.6.0", migrationFails), [], {
      NEXUS_UPGRADE_TEST_CRASH_AT: "rolling-back",
    });
    expect(r.code).toBe(137);
    await box.powerCut();
    expect((await box.cli(["upgrade", "--resume", "--no-systemd"])).out).toMatch(/rolled-back/);
    expect(box.version()).toBe(from);
    await expect.poll(() => box.setting("color"), { timeout: 60_000 }).toBe("blue");
  });

  it("install.sh and the launcher are POSIX sh that shellcheck passes", async () => {
    const scripts = ["install.sh", "nexus"].map((f) => join(built.stageDir, f));
    for (const f of scripts) expect((await run("sh", ["-n", f])).code).toBe(0);
    const lint = await run("shellcheck", ["-s", "sh", ...scripts]);
    expect(lint.out).toBe("");
    expect(lint.code).toBe(0);
  });

  it.each(["nexus.service", "nexus-hub.service"])(
    "its systemd unit %s passes systemd-analyze verify",
    async (name) => {
      const which = await run("sh", ["-c", "command -v systemd-analyze"]);
      expect(which.code, "systemd-analyze must be installed (installer/system-deps.sh: systemd)").toBe(0);
      // The unit names /opt/nexus and /etc/nexus; point them into the test root so the commands exist.
      const unit = readFileSync(join(built.stageDir, "systemd", name), "utf8")
        .replaceAll("/opt/nexus", join(box.root, "opt/nexus"))
        .replaceAll("/etc/nexus", join(box.root, "etc/nexus"));
      const dir = join(tmp, "units");
      await run("mkdir", ["-p", dir]);
      writeFileSync(join(dir, name), unit);
      const v = await run("systemd-analyze", ["verify", join(dir, name)]);
      expect(v.out).toBe("");
      expect(v.code).toBe(0);
    },
  );
});

describe("the hub offers bundles to its boxes (staged rollout)", { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let siteB: HubLink;
  /** A release as a tar.gz (a restaged copy of the built bundle, fast gzip). */
  const release = async (v: string, edits?: Record<string, (t: string) => string>) => {
    const dir = await version(v, edits);
    const file = join(tmp, `nexus-${v}.tar.gz`);
    pack(dir, file, true);
    return file;
  };
  /** PUT a file on a connection of its own (as curl -T would): a refused upload leaves no socket to reuse. */
  const upload = (file: string, authorization = `Bearer ${hub.adminToken()}`) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${hub.url()}/api/hub/bundles/upload`, {
        method: "PUT",
        agent: false,
        headers: { authorization, "content-length": statSync(file).size },
      });
      req.on("response", async (res) => {
        let text = "";
        for await (const c of res) text += c;
        resolve({ status: res.statusCode ?? 0, text });
      });
      req.on("error", reject);
      createReadStream(file).pipe(req);
    });
  const rollouts = async () =>
    (
      await hub.api<{
        releases: { version: string; rollout: { stage: number; state: string; reason: string } }[];
      }>("GET", "/api/hub/bundles")
    ).body;
  const rolloutOf = async (v: string) => (await rollouts()).releases.find((r) => r.version === v)?.rollout;

  beforeAll(async () => {
    hub = await hubProcess({ env: { NEXUS_HUB_BUNDLE_TRUST_KEYS: pubFile } });
    await hub.start();
    const dirB = join(tmp, "site-b");
    await enrolWith(hub, dirB, "site-b");
    siteB = readHubLink(dirB) as HubLink;
    await box.cli(["stop", "--timeout", "20"]);
    const enrolled = await box.cli(["enroll", hub.url(), await enrolToken(hub, "site-a")]);
    expect(enrolled.code, enrolled.out).toBe(0);
    await box.start();
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
    if (hub) removeDir(hub.dir);
  }, 60_000);

  it("refuses an upload that is not signed by a trusted key, and any upload without the admin token", async () => {
    const foreign = join(tmp, "foreign/nexus-9.0.0");
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, "install.sh"), "#!/bin/sh\n");
    await signStaged(foreign, "9.0.0", generateKeyPairSync("ed25519").privateKey);
    const file = join(tmp, "foreign.tar.gz");
    pack(foreign, file, true);
    const r = await upload(file);
    expect(r.status).toBe(422);
    expect(JSON.parse(r.text).message).toMatch(/signature does not verify/);
    const asSite = `Basic ${Buffer.from(`${siteB.user}:${siteB.password}`).toString("base64")}`;
    expect((await upload(file, asSite)).status).toBe(401);
    expect((await rollouts()).releases).toEqual([]);
  });

  it("stage 1 (site-a) upgrades from the hub and reports; then stage 2 (site-b) is offered it", async () => {
    const up = await upload(await release("0.7.0"));
    expect(up.status, up.text).toBe(201);
    const approve = await hub.api("POST", "/api/hub/bundles/0.7.0/rollout", {
      stages: [{ sites: ["site-a"] }, { sites: ["site-b"] }],
    });
    expect(approve.status).toBe(201);
    // site-b is not in the open stage: no offer, and the file is not there for it.
    expect(await hubOffer(siteB)).toBeNull();
    await expect(
      downloadOffer(
        siteB,
        { version: "0.7.0", sha256: "0".repeat(64), size: 1, buildTime: "" },
        join(tmp, "x"),
      ),
    ).rejects.toThrow(/404/);
    const sync = JSON.parse((await box.cli(["sync", "status", "--json"])).out);
    expect(sync.offeredBundle).toMatchObject({ version: "0.7.0" });
    const r = await box.cli(["upgrade", "--from-hub", "--no-systemd"]);
    expect(r.out).toMatch(/0\.7\.0: committed/);
    expect(r.out).toMatch(/Reported to the hub: committed/);
    expect(r.code).toBe(0);
    expect(box.version()).toBe("0.7.0");
    expect(await box.setting("color")).toBe("blue");
    expect(await rolloutOf("0.7.0")).toMatchObject({ stage: 1, state: "active" });
    const fleet = await rollouts();
    expect(fleet).toMatchObject({
      sites: expect.arrayContaining([expect.objectContaining({ id: "site-a", version: "0.7.0" })]),
    });
    expect(await hubOffer(siteB)).toMatchObject({ version: "0.7.0" });
    await reportToHub(siteB, { version: "0.7.0", outcome: "committed", running: "0.7.0" });
    expect(await rolloutOf("0.7.0")).toMatchObject({ state: "done" });
  });

  it("a box that rolls back halts the rollout: nobody else is offered the version", async () => {
    expect((await upload(await release("0.8.0", migrationFails))).status).toBe(201);
    await hub.api("POST", "/api/hub/bundles/0.8.0/rollout", {
      stages: [{ sites: ["site-a"] }, { percent: 100 }],
    });
    const r = await box.cli(["upgrade", "--from-hub", "--no-systemd"]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/Reported to the hub: rolled-back/);
    expect(box.version()).toBe("0.7.0");
    const ro = await rolloutOf("0.8.0");
    expect(ro).toMatchObject({ state: "halted" });
    expect(ro?.reason).toMatch(/site-a: rolled-back/);
    // Nobody is offered 0.8.0 any more; the finished 0.7.0 rollout still names the version each site runs.
    expect((await hubOffer(siteB))?.version).toBe("0.7.0");
    expect((await box.cli(["upgrade", "--from-hub", "--no-systemd"])).out).toMatch(
      /offers 0\.7\.0: already running/,
    );
  });
});

/**
 * The Ansible collection converged for real on this machine: a hub and two boxes as `ansible_connection: local`
 * hosts, each installed from the signed bundle into its own `--root` tree with the supervisor run without
 * systemd. site.yml → each box healthy through its gateway (plain and HTTPS), both enrolled, a file written on one
 * reaches the hub; site.yml again → changed=0 everywhere; backup.yml → an encrypted backup per box, fetched;
 * upgrade.yml → both boxes on a second bundle of a higher version; reset.yml → the appliance removed, the data
 * kept. The slowest test file with bundle.test.ts (budget: 10 minutes on 2 cores).
 */
import { execFile } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../appliance/lib/ports.js";
import { publicKeyPem } from "../../appliance/upgrade/signature.js";
import { buildBundle, pack, restage, signingKey } from "../../installer/bundle/build.js";
import { ansibleTool, collectionsPath } from "../helpers/ansible.js";
import { ROOT, removeDir, tempDir, waitFor } from "../helpers/appliance.js";
import { sha256 } from "../helpers/files.js";
import { killPid } from "../helpers/processes.js";

const BOXES = ["box-one", "box-two"] as const;
type Box = (typeof BOXES)[number];

let work: string;
let collections: string;
let bundleV1: string;
let bundleV2: string;
let v1: string;
const v2 = "99.0.0";

const ports: Record<string, number> = {};
const rootOf = (host: string) => join(work, "roots", host);

/** Runs a playbook against the test inventory; the recap per host. */
async function playbook(name: string, extra: Record<string, unknown> = {}) {
  const r = await ansibleTool(
    "ansible-playbook",
    ["-i", join(work, "inventory.yml"), `playbooks/${name}`, "-e", JSON.stringify(extra)],
    { ANSIBLE_COLLECTIONS_PATH: collections, ANSIBLE_LOCAL_TEMP: join(work, "ansible-tmp") },
    300_000,
  );
  const recap: Record<string, Record<string, number>> = {};
  for (const m of r.stdout.matchAll(/^(\S+)\s+: ((?:\w+=\d+\s*)+)$/gm)) {
    recap[m[1] as string] = Object.fromEntries(
      [...(m[2] as string).matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1] as string, Number(x[2])]),
    );
  }
  return { ...r, recap, output: `${r.stdout}\n${r.stderr}`.slice(-6000) };
}

function inventory(): string {
  const box = (b: Box) => ({
    ansible_connection: "local",
    ansible_python_interpreter: "/usr/bin/python3",
    appliance_root: rootOf(b),
    appliance_systemd: false,
    appliance_user: "root",
    appliance_group: "root",
    appliance_port: ports[`${b}-http`],
    appliance_tls_port: ports[`${b}-https`],
    appliance_tls_host: "127.0.0.1",
    appliance_health_timeout: 120,
    appliance_config: { supervisor: { healthIntervalMs: 500 } },
    // What the checks need; the default profile's forms, media and ai would only make each start slower.
    appliance_services: ["identity", "system", "files"],
    enroll_site: b,
    enroll_allow_http: true,
  });
  const doc = {
    all: {
      vars: {
        ansible_become: false,
        appliance_bundle_src: bundleV1,
        appliance_trust_key: join(work, "release.pub.pem"),
      },
      children: {
        hub: {
          hosts: {
            "the-hub": {
              ansible_connection: "local",
              ansible_python_interpreter: "/usr/bin/python3",
              hub_root: rootOf("hub"),
              hub_systemd: false,
              hub_port: ports.hub,
              hub_leaf_host: "127.0.0.1",
              hub_leaf_port: ports.leaf,
            },
          },
        },
        boxes: {
          vars: { enroll_hub_url: `http://127.0.0.1:${ports.hub}` },
          hosts: Object.fromEntries(BOXES.map((b) => [b, box(b)])),
        },
      },
    },
  };
  return JSON.stringify(doc, null, 2); // JSON is YAML
}

const boxUrl = (b: Box) => `http://127.0.0.1:${ports[`${b}-http`]}`;
const hubUrl = () => `http://127.0.0.1:${ports.hub}`;
const hubToken = () =>
  readFileSync(join(rootOf("hub"), "var/lib/nexus-hub/secrets/hub-admin.token"), "utf8").trim();
const hubApi = async <T>(path: string) =>
  (await (
    await fetch(`${hubUrl()}${path}`, { headers: { authorization: `Bearer ${hubToken()}` } })
  ).json()) as T;
const installed = (host: string) => basename(readlinkSync(join(rootOf(host), "opt/nexus/current")));

/** GET over HTTPS trusting the box's own (self-signed) certificate only. */
function httpsStatus(b: Box, path: string): Promise<number> {
  const ca = readFileSync(join(rootOf(b), "etc/nexus/tls/gateway.crt"));
  return new Promise((resolve, reject) => {
    const req = request(`https://localhost:${ports[`${b}-https`]}${path}`, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

/** The installed CLI of a box (its launcher reads the tree's nexus.env). */
const nexus = (b: Box, args: string[], input?: string) =>
  new Promise<string>((resolve, reject) => {
    const child = execFile(
      join(rootOf(b), "opt/nexus/current/nexus"),
      args,
      { timeout: 60_000 },
      (err, out) => (err ? reject(err) : resolve(out)),
    );
    if (input !== undefined) child.stdin?.end(input);
  });

beforeAll(async () => {
  work = tempDir("nexus-ansible-");
  collections = collectionsPath();
  for (const k of ["hub", "leaf", "box-one-http", "box-one-https", "box-two-http", "box-two-https"])
    ports[k] = await freePort();
  const key = signingKey();
  writeFileSync(join(work, "release.pub.pem"), publicKeyPem(key));
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string })
    .version;
  const built = await buildBundle({
    build: false,
    quiet: true,
    outDir: join(work, "dist"),
    stageDir: join(work, "stage", `nexus-${version}`),
  });
  v1 = built.version;
  bundleV1 = built.file;
  const stage2 = join(work, "stage", `nexus-${v2}`);
  await restage(built.stageDir, stage2, v2, key);
  bundleV2 = join(work, "dist", basename(built.file).replace(v1, v2));
  pack(stage2, bundleV2);

  writeFileSync(join(work, "inventory.yml"), inventory());
}, 300_000);

afterAll(async () => {
  for (const b of BOXES) {
    if (existsSync(join(rootOf(b), "opt/nexus/current/nexus")))
      await nexus(b, ["stop"]).catch(() => undefined);
  }
  const hubRun = join(rootOf("hub"), "var/lib/nexus-hub/run/hub.json");
  if (existsSync(hubRun)) {
    const pid = (JSON.parse(readFileSync(hubRun, "utf8")) as { pid: number }).pid;
    await killPid(pid);
  }
  removeDir(collections);
  removeDir(work ?? "");
}, 120_000);

describe("ansible: site.yml, a second run, upgrade.yml, reset.yml", () => {
  it("site.yml installs the hub and both boxes, enrols them, and each box is healthy", async () => {
    const r = await playbook("site.yml");
    expect(r.code, r.output).toBe(0);
    for (const host of ["the-hub", ...BOXES]) expect(r.recap[host]?.failed, r.output).toBe(0);
    for (const b of BOXES) {
      expect((await fetch(`${boxUrl(b)}/health`)).status).toBe(200);
      expect(await httpsStatus(b, "/health")).toBe(200);
      expect(installed(b)).toBe(v1);
    }
    const { sites } = await hubApi<{ sites: { id: string; status: string }[] }>("/api/hub/sites");
    expect(sites.map((s) => [s.id, s.status]).sort()).toEqual([
      ["box-one", "active"],
      ["box-two", "active"],
    ]);
  }, 600_000);

  it("a file written on one box reaches the hub", async () => {
    const password = `Pw-${sha256(work).slice(0, 16)}`;
    await nexus("box-one", ["admin", "create", "--username", "ops", "--password-stdin"], password);
    const login = await fetch(`${boxUrl("box-one")}/api/identity/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "ops", password }),
    });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    const put = await fetch(`${boxUrl("box-one")}/api/files/spaces/me/content/ansible/hello.txt`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}` },
      body: "converged by ansible",
    });
    expect(put.status).toBe(201);
    const wanted = sha256("converged by ansible");
    const records = await waitFor(async () => {
      const r = await hubApi<{ records: { data: { sha256: string } }[] }>("/api/hub/records/versions");
      return r.records.some((x) => x.data.sha256 === wanted) ? r.records : null;
    }, 60_000);
    expect(records).toBeTruthy();
  }, 120_000);

  it("a second site.yml run changes nothing", async () => {
    const r = await playbook("site.yml");
    expect(r.code, r.output).toBe(0);
    for (const host of ["the-hub", ...BOXES])
      expect(r.recap[host], r.output).toMatchObject({ changed: 0, failed: 0 });
  }, 300_000);

  it("backup.yml takes an encrypted backup on each box and fetches it", async () => {
    const r = await playbook("backup.yml", {
      backup_destination: `${work}/backups/{{ inventory_hostname }}`,
      backup_passphrase: "a passphrase for the converge test",
      backup_fetch: true,
      backup_fetch_dir: join(work, "fetched"),
    });
    expect(r.code, r.output).toBe(0);
    for (const b of BOXES) {
      const listed = await nexus(b, ["backup", "list", "--to", join(work, "backups", b), "--json"]);
      const { backups } = JSON.parse(listed) as { backups: { id: string }[] };
      expect(backups).toHaveLength(1);
      expect(readdirSync(join(work, "fetched", b))).toEqual([`nexus-backup-${backups[0]?.id}.tar.gz`]);
    }
    expect(r.output).not.toContain("a passphrase for the converge test");
  }, 300_000);

  it("upgrade.yml moves both boxes to the second bundle, one at a time", async () => {
    const r = await playbook("upgrade.yml", { appliance_bundle_src: bundleV2 });
    expect(r.code, r.output).toBe(0);
    for (const b of BOXES) {
      expect(installed(b)).toBe(v2);
      expect((await fetch(`${boxUrl(b)}/health`)).status).toBe(200);
    }
  }, 600_000);

  it("reset.yml removes the appliance and keeps the data", async () => {
    const r = await playbook("reset.yml");
    expect(r.code, r.output).toBe(0);
    for (const b of BOXES) {
      expect(existsSync(join(rootOf(b), "opt/nexus"))).toBe(false);
      expect(lstatSync(join(rootOf(b), "var/lib/nexus")).isDirectory()).toBe(true);
      expect(existsSync(join(rootOf(b), "var/lib/nexus/secrets/hub.json"))).toBe(true);
      await expect(fetch(`${boxUrl(b)}/health`)).rejects.toThrow();
    }
  }, 300_000);
});

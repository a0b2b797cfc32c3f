/**
 * The harness of the bundle tests: an appliance installed from a real bundle into a temp root with
 * install.sh --root --no-systemd, driven through its own `nexus` launcher (the bundled Node), and
 * power cuts simulated with SIGKILL of the upgrader and of every process of the box.
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { freePort } from "../../appliance/lib/ports.js";
import { directControl } from "../../appliance/upgrade/control.js";
import { installLayout } from "../../appliance/upgrade/layout.js";
import { publicKeyPem } from "../../appliance/upgrade/signature.js";
import { type BuiltBundle, buildBundle } from "../../installer/bundle/build.js";
import { killPid } from "./processes.js";

export interface Run {
  code: number;
  out: string;
}

/** Runs a program to its end (no throw on a non-zero exit); output is stdout and stderr together. */
export function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 240_000,
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16e6 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : err.signal ? 128 + 9 : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

export class InstalledBox {
  /** The gateway's port, from nexus.env as configure() wrote it. */
  private port = 0;

  constructor(readonly root: string) {}

  get nexus(): string {
    return join(this.root, "opt/nexus/current/nexus");
  }
  get dataDir(): string {
    return join(this.root, "var/lib/nexus");
  }

  /** Writes nexus.env before the first install: a free port, the system service only, fast restarts. */
  async configure(extra: Record<string, string> = {}): Promise<void> {
    const port = await freePort();
    this.port = port;
    const env = {
      NEXUS_DATA_DIR: this.dataDir,
      NEXUS_PROFILE: "small-box",
      NEXUS_SERVICES: "system",
      NEXUS_HOST: "127.0.0.1",
      NEXUS_PORT: String(port),
      NEXUS_SUPERVISOR_BACKOFF_BASE_MS: "100",
      NEXUS_SUPERVISOR_HEALTH_INTERVAL_MS: "300",
      NEXUS_UPGRADE_HEALTH_WINDOW_S: "40",
      NEXUS_UPGRADE_SETTLE_S: "1",
      ...extra,
    };
    mkdirSync(join(this.root, "etc/nexus"), { recursive: true });
    writeFileSync(
      join(this.root, "etc/nexus/nexus.env"),
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(""),
    );
  }

  version(): string | null {
    try {
      return basename(readlinkSync(join(this.root, "opt/nexus/current")));
    } catch {
      return null;
    }
  }

  cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
    return run(this.nexus, args, env);
  }

  upgrade(bundle: string, args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
    return this.cli(["upgrade", bundle, "--no-systemd", ...args], env);
  }

  /** Starts the installed version's supervisor (as the upgrader does without systemd); waits until it runs. */
  async start(): Promise<void> {
    await directControl(installLayout(this.root)).start();
    const until = Date.now() + 90_000;
    for (;;) {
      const ready = await fetch(`${await this.gateway()}/ready`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => r.status,
        () => 0,
      );
      if (ready === 200) return;
      if (Date.now() > until) throw new Error(`the installed box is not ready (last answer ${ready})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  // biome-ignore lint/suspicious/noExplicitAny: the status JSON is checked field by field
  async status(): Promise<any> {
    return JSON.parse((await this.cli(["status", "--json"])).out);
  }

  /** The gateway's address: from the configured port (no CLI process to ask), else from `nexus status`. */
  async gateway(): Promise<string> {
    return this.port ? `http://127.0.0.1:${this.port}` : (await this.status()).gateway;
  }

  /** The version the running gateway answers /health with; null when nothing answers. */
  async servedVersion(): Promise<string | null> {
    try {
      const res = await fetch(`${await this.gateway()}/health`, { signal: AbortSignal.timeout(5000) });
      return res.ok ? ((await res.json()) as { version: string }).version : null;
    } catch {
      return null;
    }
  }

  /** fetch through the gateway with the bootstrap admin token (a box without the identity service). */
  async api(path: string, init: RequestInit = {}): Promise<Response> {
    const token = readFileSync(join(this.dataDir, "secrets/admin.token"), "utf8").trim();
    return fetch(`${await this.gateway()}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        ...(init.headers as object),
      },
    });
  }

  async setting(key: string): Promise<unknown> {
    const res = await this.api(`/api/system/settings/${key}`);
    return res.status === 200 ? ((await res.json()) as { value: unknown }).value : res.status;
  }

  /** A power cut: SIGKILL the supervisor, nats-server and every service process. */
  async powerCut(): Promise<void> {
    const pids = new Set<number>();
    const pidFile = (f: string) => {
      const p = join(this.dataDir, "run", f);
      if (existsSync(p)) pids.add(Number(readFileSync(p, "utf8").trim()));
    };
    const s = await this.status().catch(() => null);
    for (const x of s?.services ?? []) if (x.pid) pids.add(x.pid);
    if (s?.nats?.pid) pids.add(s.nats.pid);
    pidFile("supervisor.pid");
    pidFile("nats.pid");
    for (const pid of pids) if (pid > 1) await killPid(pid);
  }

  async stop(): Promise<void> {
    if (existsSync(this.nexus)) await this.cli(["stop", "--timeout", "20"]);
    await this.powerCut();
    // Anything still running from this root (a nats-server orphaned by a power-cut test): gone too.
    for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue;
      }
      if (cmd.startsWith(`${this.root}/`)) await killPid(Number(pid));
    }
  }
}

/** A bundle built from the checkout's dist/ into `tmp`, signed by a fresh key whose public PEM is `pubFile`. */
export async function buildTestBundle(
  tmp: string,
): Promise<{ built: BuiltBundle; key: KeyObject; pubFile: string }> {
  const key = generateKeyPairSync("ed25519").privateKey;
  const pubFile = join(tmp, "release.pem");
  writeFileSync(pubFile, publicKeyPem(key));
  const stageDir = join(tmp, "stage/nexus-0.1.0");
  const built = await buildBundle({ build: false, quiet: true, key, stageDir, outDir: tmp, fastPack: true });
  return { built, key, pubFile };
}

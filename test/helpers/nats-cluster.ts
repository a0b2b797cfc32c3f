/**
 * A real 3-node NATS cluster for tests: three nats-server processes on free loopback ports, routed to each
 * other, JetStream (domain `hub`) on each with its own store, a leafnode listener on each, and one users file
 * every node includes (what the hub writes as its `--nats-auth-file`). `reloadCommand` sends SIGHUP to every
 * node still running, as an operator's `systemctl reload` would on each machine.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import { freePort } from "../../appliance/lib/ports.js";
import { removeDir, tempDir, waitFor } from "./appliance.js";
import { hasExited, stopChild } from "./processes.js";

export interface NatsNode {
  name: string;
  clientPort: number;
  url: string;
  child: ChildProcess | null;
}

export interface NatsCluster {
  dir: string;
  nodes: NatsNode[];
  /** Every node's client URL, comma-separated (what `--nats-url` takes). */
  urls: string;
  /** The users file each node includes. */
  authFile: string;
  /** A shell command that has every running node reload its config. */
  reloadCommand: string;
  /** The user the cluster starts with (until a hub rewrites the users file, keeping its own user). */
  user: string;
  password: string;
  connect(): Promise<NatsConnection>;
  /** SIGKILL one node (index 0..2). */
  kill9(index: number): Promise<void>;
  /** Starts a stopped node again on its ports and store. */
  restart(index: number): Promise<void>;
  stop(): Promise<void>;
}

function nodeConfig(
  dir: string,
  name: string,
  ports: { client: number; route: number; leaf: number },
  routes: number[],
) {
  const q = JSON.stringify;
  return [
    `server_name: ${q(name)}`,
    `listen: "127.0.0.1:${ports.client}"`,
    `pid_file: ${q(join(dir, `${name}.pid`))}`,
    `log_file: ${q(join(dir, `${name}.log`))}`,
    `jetstream { store_dir: ${q(join(dir, name))}, domain: "hub" }`,
    "cluster {",
    '  name: "nexus-hub"',
    `  listen: "127.0.0.1:${ports.route}"`,
    `  routes: ${q(routes.map((p) => `nats-route://127.0.0.1:${p}`))}`,
    "}",
    `leafnodes { listen: "127.0.0.1:${ports.leaf}" }`,
    "max_payload: 8MB",
    `include "auth.conf"`,
    "",
  ].join("\n");
}

/** Starts three clustered nats-servers and waits until JetStream answers with a meta leader. */
export async function startNatsCluster(opts: { bin?: string } = {}): Promise<NatsCluster> {
  const dir = tempDir("nexus-nats-cluster-");
  const user = "nexus-hub";
  const password = "cluster-test-password";
  const authFile = join(dir, "auth.conf");
  writeFileSync(
    authFile,
    `authorization { users: [ { user: ${JSON.stringify(user)}, password: ${JSON.stringify(password)} } ] }\n`,
    { mode: 0o600 },
  );
  const ports: { client: number; route: number; leaf: number }[] = [];
  for (let i = 0; i < 3; i++) ports.push({ client: 0, route: 0, leaf: 0 });
  // Nine distinct ports: freePort() may hand out a port it gave a moment ago.
  const taken = new Set<number>();
  const distinct = async () => {
    for (;;) {
      const p = await freePort();
      if (taken.has(p)) continue;
      taken.add(p);
      return p;
    }
  };
  for (const p of ports) {
    p.client = await distinct();
    p.route = await distinct();
    p.leaf = await distinct();
  }
  const nodes: NatsNode[] = ports.map((p, i) => ({
    name: `n${i + 1}`,
    clientPort: p.client,
    url: `nats://127.0.0.1:${p.client}`,
    child: null,
  }));
  nodes.forEach((n, i) => {
    const routes = ports.filter((_, j) => j !== i).map((p) => p.route);
    writeFileSync(join(dir, `${n.name}.conf`), nodeConfig(dir, n.name, ports[i]!, routes));
  });
  const start = (n: NatsNode) => {
    mkdirSync(join(dir, n.name), { recursive: true });
    n.child = spawn(opts.bin ?? "nats-server", ["-c", join(dir, `${n.name}.conf`)], {
      stdio: ["ignore", "ignore", "ignore"],
    });
  };
  const reload = join(dir, "reload.sh");
  writeFileSync(
    reload,
    `#!/bin/sh\nfor f in ${dir}/n*.pid; do kill -HUP "$(cat "$f")" 2>/dev/null; done\nexit 0\n`,
  );
  chmodSync(reload, 0o755);
  const urls = nodes.map((n) => n.url).join(",");
  const cluster: NatsCluster = {
    dir,
    nodes,
    urls,
    authFile,
    reloadCommand: reload,
    user,
    password,
    connect: () => connect({ servers: urls.split(","), user, pass: cluster.password }),
    async kill9(i) {
      const n = nodes[i]!;
      const c = n.child;
      n.child = null;
      if (c && !hasExited(c)) {
        c.kill("SIGKILL");
        await new Promise((r) => c.once("exit", r));
      }
      // A pid file left behind would have the reload command signal whatever reuses the pid.
      writeFileSync(join(dir, `${n.name}.pid`), "");
    },
    async restart(i) {
      start(nodes[i]!);
      await waitFor(() => existsSync(join(dir, `${nodes[i]!.name}.pid`)), 10_000, "nats node restart");
    },
    async stop() {
      await Promise.all(nodes.map((n) => stopChild(n.child, "SIGTERM", 10_000)));
      removeDir(dir);
    },
  };
  for (const n of nodes) start(n);
  try {
    await waitFor(
      async () => {
        for (const n of nodes)
          if (n.child && hasExited(n.child))
            throw new Error(`nats node ${n.name} exited: ${logTail(join(dir, `${n.name}.log`))}`);
        return jetStreamReady(cluster);
      },
      30_000,
      "the NATS cluster's JetStream",
    );
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** True once a replicated (R3) stream can be created: all three nodes routed, a meta leader elected. */
async function jetStreamReady(cluster: NatsCluster): Promise<boolean> {
  let nc: NatsConnection | null = null;
  try {
    nc = await connect({
      servers: cluster.urls.split(","),
      user: cluster.user,
      pass: cluster.password,
      timeout: 1000,
      reconnect: false,
    });
    const jsm = await nc.jetstreamManager({ timeout: 2000 });
    await jsm.streams.add({ name: "CLUSTER_READY", subjects: ["cluster-ready"], num_replicas: 3 });
    await jsm.streams.delete("CLUSTER_READY");
    return true;
  } catch {
    return false;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}

/** The pid a node wrote (0 when it is not running). */
export function nodePid(cluster: NatsCluster, i: number): number {
  const f = join(cluster.dir, `${cluster.nodes[i]!.name}.pid`);
  return existsSync(f) ? Number(readFileSync(f, "utf8").trim() || 0) : 0;
}

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-5).join("\n");
  } catch {
    return "(no log)";
  }
}

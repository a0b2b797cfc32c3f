/**
 * A real PostgreSQL server for tests: initdb + postgres from /usr/lib/postgresql/<version>/bin (Debian's
 * `postgresql` package), in a temp dir, on a free loopback port, trust auth, fsync off. As root the server
 * runs as the `postgres` user (Postgres refuses to run as root), which is given the temp dir. stop()
 * shuts it down fast and removes the dir. No binaries is an error, never a skip.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "../../appliance/lib/ports.js";
import { removeDir, tempDir, waitFor } from "./appliance.js";
import { exited, hasExited } from "./processes.js";

export interface TestPostgres {
  /** postgres://… for the `postgres` database. */
  url: string;
  port: number;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

const PG_ROOT = "/usr/lib/postgresql";

/** The bin dir of the newest installed server; throws a clear error when there is none. */
export function postgresBinDir(): string {
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT)
        .filter((v) => existsSync(join(PG_ROOT, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) {
    throw new Error(
      `no PostgreSQL server under ${PG_ROOT}/*/bin: install Debian's postgresql package (apt-get install postgresql)`,
    );
  }
  return join(PG_ROOT, versions[0], "bin");
}

/** Runs a server binary, as the postgres user when we are root. */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

/** Starts a fresh server and waits until it accepts connections. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const dir = tempDir("nexus-pg-");
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
  }
  const initdb = ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"];
  const [initCmd, initArgs] = asPostgres(join(bin, "initdb"), initdb);
  execFileSync(initCmd, initArgs, { stdio: "pipe" });
  const port = await freePort();
  // Durability is not under test here: fsync off keeps the suite fast on a shared 2-core box.
  const settings = [
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
  ];
  const [cmd, args] = asPostgres(join(bin, "postgres"), [
    ...["-D", data, "-p", String(port), "-k", dir],
    ...settings.flatMap((s) => ["-c", s]),
  ]);
  const child: ChildProcess = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (c) => {
    out += c;
  });
  child.stderr?.on("data", (c) => {
    out += c;
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (!hasExited(child)) {
      // runuser does not pass every signal on: signal the postmaster itself (SIGINT: fast shutdown).
      const pidFile = join(data, "postmaster.pid");
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : 0;
      if (pid > 0) process.kill(pid, "SIGINT");
      else child.kill("SIGINT");
      await exited(child, 10_000);
    }
    removeDir(dir);
  };
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${out}`);
        return admin(async () => true).catch(() => false);
      },
      20_000,
      `postgres to accept connections; output so far:\n${out}`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const createDatabase = async (name: string) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
    return `postgres://postgres@127.0.0.1:${port}/${name}`;
  };
  return { url, port, createDatabase, stop };
}

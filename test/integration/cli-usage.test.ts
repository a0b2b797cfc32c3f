/**
 * The built `nexus` CLI's conventions without a running appliance: --version, exit codes (2: usage, 1: the
 * command failed), `logs -n`, nats-server's text log, `version --json`, what `doctor` checks. Needs
 * `npm run build`.
 */
import { execFile, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dataPaths } from "../../appliance/paths.js";
import { ROOT, removeDir, tempDir, waitFor } from "../helpers/appliance.js";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dir = tempDir();
afterAll(() => removeDir(dir));

/** Runs `nexus -d <dir> …args` to its end; never rejects, whatever the exit code. */
function nexus(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, "bin/nexus.js"), "-d", dir, ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("nexus --version and version --json", () => {
  it("--version prints what `nexus version` prints and exits 0", async () => {
    const version = await nexus("version");
    expect(version.stdout).toMatch(/^nexus-edge \d+\.\d+\.\d+\nnode v\d+/);
    for (const flag of ["--version", "-V"]) {
      expect(await nexus(flag)).toEqual({ code: 0, stdout: version.stdout, stderr: "" });
    }
  });

  it("version --json is one JSON object on stdout", async () => {
    const r = await nexus("version", "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      nexusEdge: expect.stringMatching(/^\d+\.\d+\.\d+/),
      node: process.version,
      natsServer: expect.stringMatching(/^\d+\.\d+\.\d+$/),
    });
  });
});

describe("exit codes", () => {
  it.each([
    [["bogus"], /unknown command 'bogus'/],
    [["status", "--bogus"], /unknown option '--bogus'/],
    [["logs"], /missing required argument 'name'/],
    [["hub", "token"], /missing required argument 'site'/],
    [["logs", "system", "-n", "abc"], /-n.*a whole number, 0 or more/],
    [["logs", "system", "-n", "-3"], /a whole number, 0 or more/],
    [["stop", "--timeout", "soon"], /a number of seconds/],
    [["up", "--port", "99999"], /0\.\.65535/],
    [["up", "--isolation", "weird"], /process or shared/],
  ])("usage error %j exits 2 with a message on stderr", async (args, message) => {
    const r = await nexus(...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });

  it("a command that fails at run time exits 1", async () => {
    const restart = await nexus("restart", "system");
    expect(restart).toMatchObject({ code: 1, stderr: expect.stringContaining("not running") });
    const logs = await nexus("logs", "nope");
    expect(logs).toMatchObject({ code: 1, stderr: expect.stringContaining("no log for nope") });
  });
});

describe("nexus logs", () => {
  const logs = dataPaths(dir).logs;
  mkdirSync(logs, { recursive: true });
  const line = (msg: string) => `${JSON.stringify({ level: 30, time: "2026-12-07T10:00:00.000Z", msg })}\n`;

  it("-n 0 prints nothing of the existing log", async () => {
    writeFileSync(join(logs, "zero.log"), line("old-1") + line("old-2"));
    expect(await nexus("logs", "zero", "-n", "0")).toEqual({ code: 0, stdout: "", stderr: "" });
    expect((await nexus("logs", "zero", "-n", "1")).stdout).toContain("old-2");
  });

  it("-n 0 -f prints only lines written after it started", async () => {
    const file = join(logs, "follow.log");
    writeFileSync(file, line("old-1") + line("old-2"));
    const child = spawn(process.execPath, [
      join(ROOT, "bin/nexus.js"),
      "-d",
      dir,
      "logs",
      "follow",
      "-n0",
      "-f",
    ]);
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    try {
      // Keep writing until the follower shows one: a line written before it started is history, not news.
      let n = 0;
      await waitFor(
        () => {
          appendFileSync(file, line(`new-${++n}`));
          return out.includes("new-");
        },
        30_000,
        "a new line",
      );
      expect(out).not.toContain("old-");
    } finally {
      child.kill();
    }
  });

  it("shows nats-server's text lines readably, and as written with --raw", async () => {
    const raw = "[4242] 2026/12/07 10:00:01.123456 [INF] Starting nats-server";
    writeFileSync(join(logs, "nats.log"), `${raw}\n[4242] 2026/12/07 10:00:02.000001 [WRN] slow consumer\n`);
    const pretty = await nexus("logs", "nats");
    expect(pretty.stdout).toBe(
      "10:00:01.123 INFO  [nats] Starting nats-server\n10:00:02.000 WARN  [nats] slow consumer\n",
    );
    expect((await nexus("logs", "nats", "--raw", "-n", "1")).stdout).not.toContain(raw);
    expect((await nexus("logs", "nats", "--raw", "-n", "2")).stdout.split("\n")[0]).toBe(raw);
  });
});

describe("nexus doctor without a running box", () => {
  it("checks the port from --port, else config.json, and names the data dir it checked", async () => {
    const config = dataPaths(dir).config;
    writeFileSync(config, JSON.stringify({ port: 18282 }));
    try {
      const fromConfig = JSON.parse((await nexus("doctor", "--json")).stdout);
      expect(fromConfig).toMatchObject({
        dataDir: dataPaths(dir).root,
        gateway: "127.0.0.1:18282",
        running: false,
      });
      expect(fromConfig.checks.find((c: { name: string }) => c.name === "port").detail).toContain(
        "127.0.0.1:18282",
      );
      const fromFlag = JSON.parse((await nexus("doctor", "--port", "18283", "--json")).stdout);
      expect(fromFlag.gateway).toBe("127.0.0.1:18283");
    } finally {
      rmSync(config);
    }
  });
});

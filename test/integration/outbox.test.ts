/**
 * Nothing acknowledged is lost, nothing rolled back escapes: kill -9 the writer during 10,000 outbox writes,
 * restart it, and count the stream by message id against the committed rows.
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../appliance/kit/index.js";
import { EVENTS_STREAM } from "../../appliance/kit/nats.js";
import { dataPaths } from "../../appliance/paths.js";
import { openLog } from "../../appliance/supervisor/log-files.js";
import { type RunningNats, startNats } from "../../appliance/supervisor/nats-server.js";
import { removeDir, spawnFixture, tempDir, waitFor } from "../helpers/appliance.js";
import { stopChild } from "../helpers/processes.js";

const TOTAL = Number(process.env.NEXUS_TEST_OUTBOX_TOTAL ?? 10_000);
let dir: string;
let nats: RunningNats;

beforeAll(async () => {
  dir = tempDir();
  const paths = dataPaths(dir);
  const { mkdirSync } = await import("node:fs");
  mkdirSync(paths.logs, { recursive: true });
  nats = await startNats({ bin: "nats-server", paths, site: "test", logFd: openLog(paths.logFile("nats")) });
});
afterAll(async () => {
  await stopChild(nats?.child, "SIGKILL");
  removeDir(dir);
});

function runWriter(dbFile: string): {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
} {
  const { child, out } = spawnFixture("outbox-writer.ts", [
    dbFile,
    nats.url,
    nats.creds.user,
    nats.creds.pass,
    String(TOTAL),
  ]);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, out, exited };
}

/** Every message in the stream for the writer's subject: msg id → count. Read by sequence (nats-server 2.9). */
async function streamIds(): Promise<{ ids: Map<string, number>; rolledBack: number }> {
  const nc = await connect({ servers: nats.url, ...nats.creds });
  const jsm = await nc.jetstreamManager();
  const { state } = await jsm.streams.info(EVENTS_STREAM);
  const ids = new Map<string, number>();
  let rolledBack = 0;
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq });
    if (!m.subject.startsWith("nexus.writer.")) continue;
    const id = m.header.get("Nats-Msg-Id");
    ids.set(id, (ids.get(id) ?? 0) + 1);
    if (m.json<{ data: { rolledBack: boolean } }>().data.rolledBack) rolledBack++;
  }
  await nc.close();
  return { ids, rolledBack };
}

describe("outbox under kill -9", () => {
  it("publishes every committed event exactly once and no rolled-back one", async () => {
    const dbFile = join(dir, "writer.db");
    const first = runWriter(dbFile);
    await waitFor(() => /written [3-9]\d{3}/.test(first.out()), 120_000, `writes; output: ${first.out()}`);
    first.child.kill("SIGKILL");
    await first.exited;
    expect(first.out()).not.toContain("done");

    const db = openDatabase(dbFile);
    const pendingAtKill = (
      db.prepare("SELECT count(*) AS n FROM _outbox WHERE published_at IS NULL").get() as { n: number }
    ).n;
    db.close();

    const second = runWriter(dbFile);
    expect(await second.exited).toBe(0);
    expect(second.out()).toContain("done");

    const check = openDatabase(dbFile);
    const committed = (check.prepare("SELECT id FROM _outbox").all() as { id: string }[]).map((r) => r.id);
    const items = (check.prepare("SELECT count(*) AS n FROM items").get() as { n: number }).n;
    check.close();
    expect(items).toBe(TOTAL);
    expect(committed).toHaveLength(TOTAL);

    const { ids, rolledBack } = await streamIds();
    expect(rolledBack).toBe(0);
    expect(ids.size).toBe(TOTAL);
    expect([...ids.values()].every((n) => n === 1)).toBe(true);
    for (const id of committed) expect(ids.has(id)).toBe(true);
    // For the record: rows committed but not yet acknowledged when the writer died.
    console.log(`outbox kill -9: ${pendingAtKill} rows were unpublished at the kill`);
  }, 240_000);
});

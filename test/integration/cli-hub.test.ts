/** The built `nexus hub …` admin commands against a real hub process. Needs `npm run build`. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, removeDir, tempDir } from "../helpers/appliance.js";
import { enrolWith, type HubProcess, hubProcess, teardown } from "../helpers/hub.js";

const run = promisify(execFile);
let hub: HubProcess;
const nexusHub = (...args: string[]) =>
  run(process.execPath, [join(ROOT, "bin/nexus.js"), "hub", ...args, "--hub-dir", hub.dir], {
    timeout: 30_000,
  });

beforeAll(async () => {
  hub = await hubProcess();
  await hub.start();
  const box = tempDir("nexus-enrol-");
  await enrolWith(hub, box, "cli-site");
  removeDir(box);
}, 120_000);
afterAll(() => teardown([], hub));

describe("nexus hub sites", () => {
  it("--json prints the hub API's answer as one JSON document", async () => {
    const { stdout } = await nexusHub("sites", "--json");
    const { sites } = JSON.parse(stdout) as { sites: { id: string; status: string; natsUser?: string }[] };
    expect(sites).toEqual([expect.objectContaining({ id: "cli-site", status: "active" })]);
    expect(stdout.trim().split("\n")).toHaveLength(1);
  });

  it("prints a table for people", async () => {
    const { stdout } = await nexusHub("sites");
    expect(stdout).toMatch(/^SITE\s+STATUS\s+LAST SEEN\s+VERSION\s+PROFILE\s+RECEIVED\s+LAG\n/);
    expect(stdout).toMatch(/\ncli-site\s+active\s+never\s+/);
  });
});

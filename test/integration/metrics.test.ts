/**
 * The gateway's /metrics on a running box: `promtool check metrics` passes on the whole page (HELP and TYPE
 * for every family, Prometheus names, no duplicate families), requests carry a `method` label, every process
 * (the supervisor and each service host) reports its own CPU, memory, heap, descriptors and event-loop lag
 * under its `unit`, and the files service counts exactly the bytes of an upload and a download.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { filesCall } from "../helpers/files.js";
import { type Person, setupAdmin } from "../helpers/people.js";
import { metricLines, metricValue } from "../helpers/prometheus.js";

const PROCESS_SERIES = [
  "process_cpu_seconds_total",
  "process_cpu_user_seconds_total",
  "process_resident_memory_bytes",
  "nodejs_heap_size_used_bytes",
  "process_open_fds",
  "nodejs_eventloop_lag_seconds",
];

/** `promtool check metrics` on `text`: its exit code and everything it printed. */
function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  if (r.error)
    throw new Error(`promtool is missing (installer/system-deps.sh installs it): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** A resumable (tus) upload of `body` to `path`, in two PATCH requests. */
async function resumableUpload(app: TestAppliance, token: string, path: string, body: Buffer) {
  const tus = { "tus-resumable": "1.0.0" };
  const created = await filesCall(app, token, "POST", "/tus", {
    headers: { ...tus, "upload-length": String(body.length), "upload-metadata": `path ${b64(path)}` },
  });
  expect(created.status, created.text).toBe(201);
  const at = created.headers.get("location")!.replace("/api/files", "");
  const half = Math.floor(body.length / 2);
  for (const [offset, part] of [
    [0, body.subarray(0, half)],
    [half, body.subarray(half)],
  ] as const) {
    const r = await filesCall(app, token, "PATCH", at, {
      body: Buffer.from(part),
      headers: { ...tus, "upload-offset": String(offset), "content-type": "application/offset+octet-stream" },
    });
    expect(r.status, r.text).toBe(204);
  }
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

async function scrape(app: TestAppliance, token: string): Promise<string> {
  const res = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return res.text();
}

describe("/metrics, process isolation with identity and files", () => {
  let app: TestAppliance;
  let admin: Person;

  beforeAll(async () => {
    app = await startTestAppliance({ services: ["identity", "files"], isolation: "process" });
    admin = await setupAdmin(app);
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    if (app) removeDir(app.dataDir);
  });

  it("passes promtool, labels methods, has every process's series and counts file bytes", async () => {
    const before = await scrape(app, admin.token);
    const body = randomBytes(300_000);
    const put = await filesCall(app, admin.token, "PUT", "/spaces/me/content/metrics.bin", { body });
    expect(put.status, put.text).toBeLessThan(300);
    const resumable = randomBytes(120_000);
    await resumableUpload(app, admin.token, "resumable.bin", resumable);
    const got = await fetch(`${app.url}/api/files/spaces/me/content/metrics.bin`, {
      headers: { authorization: `Bearer ${admin.token}`, range: "bytes=0-999" },
    });
    expect(got.status).toBe(206);
    expect((await got.arrayBuffer()).byteLength).toBe(1000);
    const whole = await filesCall(app, admin.token, "GET", "/spaces/me/content/metrics.bin");
    expect(whole.status).toBe(200);
    const after = await scrape(app, admin.token);

    expect(promtool(after)).toEqual({ status: 0, output: "" });
    const files = { unit: "files" };
    const delta = (name: string) => metricValue(after, name, files) - metricValue(before, name, files);
    expect(delta("nexus_files_upload_bytes_total")).toBe(body.length + resumable.length);
    expect(delta("nexus_files_download_bytes_total")).toBe(body.length + 1000);
    expect(metricValue(after, "nexus_http_requests_total", { service: "files", method: "PUT" })).toBe(1);
    expect(metricValue(after, "nexus_http_requests_total", { service: "files", method: "GET" })).toBe(2);
    expect(metricValue(after, "nexus_http_requests_total", { service: "files", method: "PATCH" })).toBe(2);
    expect(metricValue(after, "nexus_http_requests_total", { service: "files", method: "POST" })).toBe(1);
    expect(metricLines(after, "nexus_http_request_duration_seconds_count", { method: "PUT" })).toHaveLength(
      1,
    );
    for (const unit of ["supervisor", "identity", "files"])
      for (const name of PROCESS_SERIES)
        expect(metricLines(after, name, { unit }), `${name}{unit="${unit}"}`).toHaveLength(1);
    expect(metricValue(after, "process_resident_memory_bytes", files)).toBeGreaterThan(1e6);
    expect(metricValue(after, "process_open_fds", files)).toBeGreaterThan(2);
    // nats-server is not Node: CPU, memory and descriptors from /proc, no heap or event loop.
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"])
      expect(metricLines(after, name, { unit: "nats" }), name).toHaveLength(1);
    expect(metricLines(after, "nodejs_heap_size_used_bytes", { unit: "nats" })).toEqual([]);
  });
});

describe("/metrics, shared isolation", () => {
  let app: TestAppliance;

  beforeAll(async () => {
    app = await startTestAppliance({ services: ["echo", "system"], isolation: "shared" });
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    if (app) removeDir(app.dataDir);
  });

  it("reports the one host process once, under its unit, and still passes promtool", async () => {
    expect((await app.api("/api/echo/hello")).status).toBe(200);
    const text = await scrape(app, app.token);
    expect(promtool(text)).toEqual({ status: 0, output: "" });
    for (const name of PROCESS_SERIES) {
      expect(metricLines(text, name, { unit: "services" }), name).toHaveLength(1);
      const units = metricLines(text, name).map((l) => /unit="([^"]+)"/.exec(l)?.[1]);
      expect(units.filter((u) => u !== "nats").sort(), name).toEqual(["services", "supervisor"]);
    }
  });
});

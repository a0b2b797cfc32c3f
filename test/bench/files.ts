/**
 * Files throughput: upload and download MB/s of one large file through the gateway and the files service,
 * against a raw copy of the same bytes on the same disk in the same run (read + write + fsync: the least an
 * upload must do), and the files service's peak RSS during the upload.
 *
 *   files_upload_ratio   = upload MB/s / raw copy MB/s
 *   files_download_ratio = download MB/s / raw copy MB/s   (also printed against a raw read)
 *
 * Knobs: BENCH_FILES_MB (1024), BENCH_FILES_RUNS (2; the best run of each kind counts).
 */
import { createReadStream, createWriteStream, statSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { startTestAppliance } from "../helpers/appliance.js";
import { generatedContent, getStream, putStream } from "../helpers/files.js";
import { envNumber, metric, note, onCleanup, removeAppliance, rss } from "./util.js";

const MB = 1024 * 1024;

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

async function rawCopy(src: string, dst: string): Promise<void> {
  await pipeline(createReadStream(src, { highWaterMark: MB }), createWriteStream(dst));
  const fh = await open(dst, "r+");
  await fh.sync();
  await fh.close();
}

async function rawRead(src: string): Promise<void> {
  await pipeline(createReadStream(src, { highWaterMark: MB }), new Writable({ write: (_c, _e, cb) => cb() }));
}

export async function filesBench(): Promise<void> {
  const sizeMb = envNumber("BENCH_FILES_MB", 1024);
  const runs = envNumber("BENCH_FILES_RUNS", 2);
  const bytes = sizeMb * MB;
  const app = await startTestAppliance({ services: ["files"] });
  onCleanup(() => removeAppliance(app));
  const pid = app.supervisor.status().find((s) => s.name === "files")!.pid!;

  // The source file lives on the same disk as the data dir.
  const src = join(app.dataDir, "bench-source.bin");
  await pipeline(generatedContent(bytes).stream, createWriteStream(src));
  note(`source: ${sizeMb} MiB in ${app.dataDir}`);

  const copy: number[] = [];
  const read: number[] = [];
  const up: number[] = [];
  const down: number[] = [];
  let peakRss = 0;
  let baselineRss = 0;
  for (let i = 0; i < runs; i++) {
    const dst = join(app.dataDir, `bench-copy-${i}.bin`);
    copy.push(bytes / MB / (await timed(() => rawCopy(src, dst))).seconds);
    await rm(dst);
    read.push(bytes / MB / (await timed(() => rawRead(src))).seconds);

    const url = `${app.url}/api/files/spaces/me/content/bench/run-${i}.bin`;
    baselineRss = rss(pid);
    let peak = baselineRss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss(pid));
    }, 50);
    const u = await timed(() =>
      putStream(url, app.token, createReadStream(src, { highWaterMark: MB }), bytes),
    );
    clearInterval(sampler);
    if (u.value.status !== 201)
      throw new Error(`upload failed: ${u.value.status} ${u.value.body.slice(0, 200)}`);
    peakRss = Math.max(peakRss, peak);
    up.push(bytes / MB / u.seconds);

    const d = await timed(() => getStream(url, app.token, { hash: false }));
    if (d.value.size !== bytes) throw new Error(`download returned ${d.value.size} bytes`);
    down.push(bytes / MB / d.seconds);
    note(
      `run ${i + 1}: copy ${copy.at(-1)!.toFixed(0)} MB/s, read ${read.at(-1)!.toFixed(0)} MB/s, ` +
        `upload ${up.at(-1)!.toFixed(0)} MB/s, download ${down.at(-1)!.toFixed(0)} MB/s`,
    );
  }
  const best = (xs: number[]) => Math.max(...xs);
  metric("files_size_mb", sizeMb, 0);
  metric("files_raw_copy_mb_s", best(copy), 0);
  metric("files_raw_read_mb_s", best(read), 0);
  metric("files_upload_mb_s", best(up), 0);
  metric("files_download_mb_s", best(down), 0);
  metric("files_upload_ratio", best(up) / best(copy));
  metric("files_download_ratio", best(down) / best(copy));
  metric("files_download_vs_read_ratio", best(down) / best(read));
  metric("files_service_rss_baseline_mb", baselineRss / MB, 1);
  metric("files_service_rss_peak_upload_mb", peakRss / MB, 1);
  metric("files_source_bytes", statSync(src).size, 0);
}

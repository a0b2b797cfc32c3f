/**
 * Moderation (NSFWJS MobileNetV2 on tfjs WebAssembly) and object + face detection (CenterNet COCO and
 * BlazeFace) of one 320×320 photo-like PNG (the drawn face of the detection tests): through the gateway and the
 * AI service (`POST /api/ai/moderate`, `POST /api/ai/detect`: decode by ffmpeg, a worker thread) against the
 * same decode and the same model code (`moderateImage`, `detectImage`) called in this process, in the same run;
 * then images per second through the service with one client.
 *
 *   ai_moderate_overhead_ratio = service latency / direct latency   (medians)
 *   ai_detect_overhead_ratio   = service latency / direct latency   (medians)
 */
import { join } from "node:path";
import { detectImage } from "../../services/ai/detect.js";
import { decodeImage } from "../../services/ai/image.js";
import { moderateImage } from "../../services/ai/moderate.js";
import { ROOT, type TestAppliance } from "../helpers/appliance.js";
import { drawnFace } from "../helpers/audio.js";
import { median, metric, note } from "./util.js";

const NSFW = join(ROOT, "models/nsfwjs-mobilenet-v2-mid");
const HUMAN = join(ROOT, "models/human-detect");

/** Milliseconds of `fn`, `n` times after one warm-up. */
async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return ms;
}

/** Calls per second of `fn` for `seconds`. */
async function perSecond(seconds: number, fn: () => Promise<unknown>): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await fn();
    done++;
  }
  return done / ((performance.now() - t0) / 1000);
}

/** Direct vs service latency of moderation and detection, and the service's images per second. */
export async function visionBench(app: TestAppliance, n: number, seconds: number): Promise<void> {
  const img = drawnFace();
  const decode = () => decodeImage(img, 40_000_000);
  const directModerate = async () =>
    moderateImage({
      kind: "moderate",
      modelJson: join(NSFW, "model.json"),
      shards: [join(NSFW, "group1-shard1of2"), join(NSFW, "group1-shard2of2")],
      image: await decode(),
    });
  const directDetect = async () =>
    detectImage({
      kind: "detect",
      objects: { modelJson: join(HUMAN, "centernet.json"), shards: [join(HUMAN, "centernet.bin")] },
      faces: { modelJson: join(HUMAN, "blazeface.json"), shards: [join(HUMAN, "blazeface.bin")] },
      // The service's defaults (routes-detect.ts).
      options: {
        objects: { minScore: 0.3, iou: 0.4, maxResults: 20 },
        faces: { minScore: 0.5, iou: 0.3, maxResults: 20 },
      },
      image: await decode(),
    });
  const service = (path: string) => async () => {
    const r = await app.api(`/api/ai/${path}`, { method: "POST", body: img });
    const body = await r.text();
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${body.slice(0, 200)}`);
  };

  for (const [name, direct, viaService] of [
    ["moderate", directModerate, service("moderate")],
    ["detect", directDetect, service("detect")],
  ] as const) {
    const d = await timed(n, direct);
    const s = await timed(n, viaService);
    note(`${name}: direct ${d.map(Math.round)} ms; service ${s.map(Math.round)} ms`);
    metric(`ai_${name}_direct_ms`, median(d), 1);
    metric(`ai_${name}_service_ms`, median(s), 1);
    metric(`ai_${name}_overhead_ratio`, median(s) / median(d));
    metric(`ai_${name}_per_s`, await perSecond(seconds, viaService), 2);
  }
}

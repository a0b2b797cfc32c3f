/** What the HTTP side sends to an inference worker and what comes back (structured-clone friendly). */
import type { Provider } from "./config.js";
import type { DetectJob } from "./detect.js";
import type { ModerateJob } from "./moderate.js";

/** A tensor on the wire between threads. */
export interface WireTensor {
  type: string;
  dims: number[];
  data: ArrayLike<number | bigint | boolean>;
}

export type Job =
  | { kind: "infer"; path: string; feeds: Record<string, WireTensor> }
  | { kind: "vad"; path: string; samples: Float32Array }
  | { kind: "embed"; texts: string[] }
  | ModerateJob
  | DetectJob
  | {
      kind: "ocr";
      det: string;
      rec: string;
      cls: string;
      dict: string;
      image: { width: number; height: number; data: Uint8Array };
    };

export interface JobRequest {
  id: number;
  job: Job;
  providers: Provider[];
}

export type JobReply =
  | { id: number; ok: true; result: unknown; providers: Record<string, Provider> }
  | { id: number; ok: false; error: string; status: number };

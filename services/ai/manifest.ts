/**
 * A model pack's manifest (`manifest.json` at the pack's root). Everything the box needs to run a model it has
 * never seen: the task, the runtime, each input and output tensor, the pre/post-processing, the licence, and
 * the sha256 of every file (checked before anything is stored).
 */
import { z } from "zod";

export const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Files inside a pack: plain names, no directories, so nothing from a pack becomes a path. */
export const PACK_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** The pack's detached ed25519 signature over manifest.json's exact bytes (see signing.ts). */
export const SIGNATURE_FILE = "manifest.sig";
export const DTYPES = ["float32", "float64", "int32", "int64", "uint8", "int8", "bool"] as const;
export type Dtype = (typeof DTYPES)[number];

/** A dimension: a fixed size, or a name / null / -1 for one that varies. */
const dim = z.union([z.number().int().min(-1), z.string().min(1).max(32), z.null()]);

export const tensorSpecSchema = z
  .object({
    name: z.string().min(1).max(128),
    type: z.enum(DTYPES),
    shape: z.array(dim).max(8),
  })
  .strict();
export type TensorSpec = z.infer<typeof tensorSpecSchema>;

/**
 * Licences accepted without review: SPDX ids of open licences. Anything else must be written as
 * `LicenseRef-<name>` with the licence text in the pack (`licenseFile`), so a box never runs a model whose
 * terms nobody recorded.
 */
const OPEN_LICENCES = [
  "Apache-2.0",
  "MIT",
  "BSD-2-Clause",
  "BSD-3-Clause",
  "CC0-1.0",
  "CC-BY-4.0",
  "CC-BY-SA-4.0",
  "MPL-2.0",
  "ISC",
  "Unlicense",
];

export const manifestSchema = z
  .object({
    name: z.string().regex(MODEL_NAME, "name: lower-case letters, digits, '.', '_', '-'; at most 64"),
    version: z.string().min(1).max(32),
    task: z.enum(["ocr-det", "ocr-rec", "ocr-cls", "vad", "embed", "moderate", "detect", "generic"]),
    runtime: z.enum(["onnx", "tfjs"]),
    description: z.string().max(500).default(""),
    /** The file the runtime loads (onnx: the .onnx; tfjs: model.json). */
    entry: z.string().regex(PACK_FILE),
    inputs: z.array(tensorSpecSchema).min(1).max(64),
    outputs: z.array(tensorSpecSchema).min(1).max(64),
    /** Named pre/post-processing the service applies (e.g. "ppocr-det", "ctc"); "none" for raw tensors. */
    preprocess: z.string().regex(/^[a-z0-9-]{1,32}$/),
    postprocess: z.string().regex(/^[a-z0-9-]{1,32}$/),
    license: z.string().min(1).max(64),
    licenseFile: z.string().regex(PACK_FILE).optional(),
    /** sha256 (hex) of every file of the pack except manifest.json. */
    files: z.record(z.string().regex(PACK_FILE), z.string().regex(/^[0-9a-f]{64}$/)),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (!Object.hasOwn(m.files, m.entry))
      ctx.addIssue({ code: "custom", path: ["entry"], message: `entry ${m.entry} is not in files` });
    if (m.licenseFile && !Object.hasOwn(m.files, m.licenseFile))
      ctx.addIssue({ code: "custom", path: ["licenseFile"], message: "licenseFile is not in files" });
    if (!OPEN_LICENCES.includes(m.license)) {
      const ref = m.license.startsWith("LicenseRef-") && m.licenseFile;
      if (!ref)
        ctx.addIssue({
          code: "custom",
          path: ["license"],
          message: `license must be one of ${OPEN_LICENCES.join(", ")}, or LicenseRef-<name> with a licenseFile`,
        });
    }
  });
export type Manifest = z.infer<typeof manifestSchema>;

/** Reads and validates a manifest; throws a readable message listing what is wrong. */
export function parseManifest(raw: unknown): Manifest {
  const r = manifestSchema.safeParse(raw);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join(".") || "manifest"}: ${i.message}`);
  throw new ManifestError(`invalid manifest: ${issues.join("; ")}`);
}

/** A pack that cannot be installed: bad manifest, checksum, licence or archive. */
export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManifestError";
  }
}

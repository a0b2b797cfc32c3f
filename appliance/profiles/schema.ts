/** Hardware profiles are data (firmware-profiles/<name>/profile.json), validated by this schema. */
import { z } from "zod";
import { SERVICE_NAME } from "../lib/names.js";

export const profileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/),
    description: z.string(),
    arch: z.enum(["x86_64", "aarch64"]),
    gpu: z.object({ vendor: z.enum(["none", "nvidia", "intel", "amd", "rockchip", "apple"]) }),
    onnx: z.object({
      executionProviders: z.array(z.enum(["cpu", "cuda", "tensorrt", "openvino", "rocm", "coreml"])).min(1),
    }),
    ffmpeg: z
      .object({
        h264Encoders: z.array(z.string().min(1)).min(1),
        /** Which ffmpeg/ffprobe the bundle carries: the Debian system binaries or the npm static builds. */
        source: z.enum(["system", "bundled"]).optional(),
      })
      .strict(),
    memoryBudgetMb: z.number().int().min(256),
    isolation: z.enum(["process", "shared"]),
    services: z.array(z.string().regex(SERVICE_NAME)).min(1),
    /** Per-service settings this hardware implies (e.g. `files.backend`); the box's config.json overrides. */
    serviceConfig: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  })
  .strict();

export type HardwareProfile = z.infer<typeof profileSchema>;

/** The ai service's manifest: what the supervisor and the gateway read, as data (see appliance/kit/manifest.ts). */
import { rule } from "../../appliance/kit/access.js";
import type { ServiceManifest } from "../../appliance/kit/manifest.js";
import { permissions } from "./permissions.js";

export const manifest = {
  name: "ai",
  version: "0.1.0",
  description:
    "Local AI: model packs, execution providers by profile, generic inference, OCR, moderation, object and face detection, voice activity, embeddings and semantic search",
  dependsOn: [],
  permissions,
  access: [
    rule("GET", "/models", "ai:read"),
    rule("GET", "/models/:name", "ai:read"),
    rule("GET", "/jobs/:id", "ai:read"),
    rule("POST", "/models", "ai:admin", { maxBodyBytes: 2 ** 40 }),
    rule("PUT", "/models/:name/pin", "ai:admin"),
    rule("DELETE", "/models/:name", "ai:admin"),
    rule("GET", "/runtime", "ai:read"),
    rule("GET", "/hub-packs", "ai:read"),
    rule("POST", "/infer/:model", "ai:infer"),
    rule("POST", "/ocr", "ai:infer", { maxBodyBytes: 64 * 1024 * 1024 }),
    rule("POST", "/moderate", "ai:infer", { maxBodyBytes: 64 * 1024 * 1024 }),
    rule("POST", "/detect", "ai:infer", { maxBodyBytes: 64 * 1024 * 1024 }),
    rule("POST", "/vad", "ai:infer", { maxBodyBytes: 256 * 1024 * 1024 }),
    rule("POST", "/embed", "ai:infer"),
    rule("POST", "/search", "ai:read"),
    rule("POST", "/index", "ai:index"),
    rule("DELETE", "/index/:id", "ai:index"),
  ],
} satisfies ServiceManifest;

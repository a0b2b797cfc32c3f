/** The media service's manifest: what the supervisor and the gateway read, as data (see appliance/kit/manifest.ts). */
import { rule } from "../../appliance/kit/access.js";
import type { ServiceManifest } from "../../appliance/kit/manifest.js";
import { permissions } from "./permissions.js";

export const manifest = {
  name: "media",
  version: "0.1.0",
  description: "Media: probes, photo variants, thumbnails, HLS ladders, audio renditions and waveforms",
  dependsOn: [],
  permissions,
  access: [
    rule("POST", "/jobs", "media:write"),
    rule("GET", "/jobs", "media:read"),
    rule("GET", "/jobs/:id", "media:read"),
    rule("DELETE", "/jobs/:id", "media:write"),
    rule("GET", "/jobs/:id/files/*", "media:read"),
    rule("GET", "/events", "media:read"),
    rule("GET", "/spaces/:space/settings", "media:read"),
    rule("PUT", "/spaces/:space/settings", "media:write"),
    // Signed URLs: the token in the path is the authorisation (signing.ts).
    rule("GET", "/play/:token/*", "public"),
  ],
} satisfies ServiceManifest;

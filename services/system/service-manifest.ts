/** The system service's manifest: what the supervisor and the gateway read, as data (see appliance/kit/manifest.ts). */
import { rule } from "../../appliance/kit/access.js";
import type { ServiceManifest } from "../../appliance/kit/manifest.js";
import { permissions } from "./permissions.js";

export const manifest = {
  name: "system",
  version: "0.1.0",
  description: "Box facts (host, CPU, memory, disk, uptime, clock) and box settings",
  dependsOn: [],
  permissions,
  access: [
    rule("GET", "/info", "system:read"),
    rule("GET", "/time", "system:read"),
    rule("GET", "/settings", "system:read"),
    rule("GET", "/settings/:key", "system:read"),
    rule("PUT", "/settings/:key", "system:write"),
    rule("DELETE", "/settings/:key", "system:write"),
  ],
} satisfies ServiceManifest;

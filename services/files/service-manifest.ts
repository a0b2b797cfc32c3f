/** The files service's manifest: what the supervisor and the gateway read, as data (see appliance/kit/manifest.ts). */
import { rule } from "../../appliance/kit/access.js";
import type { ServiceManifest } from "../../appliance/kit/manifest.js";
import { permissions } from "./permissions.js";

/** What the gateway lets through to the streaming routes; the service applies its own, finer limits. */
const STREAM_LIMIT = { maxBodyBytes: 2 ** 50 };

export const manifest = {
  name: "files",
  version: "0.1.0",
  description:
    "Files: spaces, folders, versions, resumable uploads, ranged downloads, trash, share links, quotas",
  dependsOn: [],
  permissions,
  access: [
    rule("GET", "/spaces", "files:read"),
    rule("GET", "/spaces/:space/list/*", "files:read"),
    rule("GET", "/spaces/:space/content/*", "files:read"),
    rule("PUT", "/spaces/:space/content/*", "files:write", STREAM_LIMIT),
    rule("POST", "/spaces/:space/folders", "files:write"),
    rule("GET", "/nodes/:id", "files:read"),
    rule("PATCH", "/nodes/:id", "files:write"),
    rule("DELETE", "/nodes/:id", "files:write"),
    rule("POST", "/nodes/:id/restore", "files:write"),
    rule("GET", "/nodes/:id/versions", "files:read"),
    rule("POST", "/nodes/:id/versions/:version/restore", "files:write"),
    rule("POST", "/nodes/:id/shares", "files:write"),
    rule("GET", "/trash", "files:read"),
    rule("DELETE", "/trash/:id", "files:write"),
    rule("POST", "/uploads", "files:write"),
    rule("GET", "/uploads/:id", "files:write"),
    rule("PATCH", "/uploads/:id", "files:write", STREAM_LIMIT),
    rule("DELETE", "/uploads/:id", "files:write"),
    // tus 1.0.0 (routes-tus.ts): discovery is public, like the protocol's version; HEAD goes by the GET rule.
    rule("OPTIONS", "/tus", "public"),
    rule("OPTIONS", "/tus/:id", "public"),
    rule("POST", "/tus", "files:write", STREAM_LIMIT), // creation-with-upload carries bytes
    rule("GET", "/tus/:id", "files:write"),
    rule("PATCH", "/tus/:id", "files:write", STREAM_LIMIT),
    rule("DELETE", "/tus/:id", "files:write"),
    rule("GET", "/shares", "files:read"),
    rule("DELETE", "/shares/:id", "files:write"),
    rule("GET", "/s/:token", "public"),
    rule("POST", "/s/:token", "public"),
    rule("PUT", "/quotas/:space", "files:admin"),
  ],
} satisfies ServiceManifest;

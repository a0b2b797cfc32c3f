/**
 * Every service the appliance can run, by name. Explicit imports (no path built from input) so a service
 * name from config or a URL can never load arbitrary code. A new service adds one line here: its manifest
 * (`<name>/service-manifest.ts`: name, dependencies, access rules, permissions; data only) and where its code is.
 *
 * The supervisor and the gateway read manifests only: importing this file loads no service's code. The code
 * (`<name>/index.ts`, with its routes, schemas and libraries) is imported by `loadService`, in the service
 * host (and by the backup engine, for the migrations a service knows).
 */
import type { PermissionDeclarations, ServiceDefinition, ServiceManifest } from "../appliance/kit/index.js";
import { manifest as ai } from "./ai/service-manifest.js";
import { manifest as files } from "./files/service-manifest.js";
import { manifest as forms } from "./forms/service-manifest.js";
import { manifest as identity } from "./identity/service-manifest.js";
import { manifest as media } from "./media/service-manifest.js";
import { manifest as system } from "./system/service-manifest.js";

interface Entry {
  manifest: ServiceManifest;
  load: () => Promise<ServiceDefinition<unknown>>;
}

/** One registry line: a service's manifest and where its code is. */
const entry = (manifest: ServiceManifest, code: () => Promise<{ default: unknown }>): Entry => ({
  manifest,
  load: async () => (await code()).default as ServiceDefinition<unknown>,
});

export const SERVICES: Readonly<Record<string, Entry>> = {
  ai: entry(ai, () => import("./ai/index.js")),
  files: entry(files, () => import("./files/index.js")),
  forms: entry(forms, () => import("./forms/index.js")),
  identity: entry(identity, () => import("./identity/index.js")),
  media: entry(media, () => import("./media/index.js")),
  system: entry(system, () => import("./system/index.js")),
};

function entryOf(name: string): Entry {
  const found = Object.hasOwn(SERVICES, name) ? SERVICES[name] : undefined;
  if (!found) throw new Error(`unknown service: ${name}`);
  return found;
}

/** Loads a service definition (its code) by name; throws on an unknown name. Service hosts only. */
export async function loadService(name: string): Promise<ServiceDefinition<unknown>> {
  return entryOf(name).load();
}

/** A service's manifest by name, without its code; throws on an unknown name. */
export async function loadManifest(name: string): Promise<ServiceManifest> {
  return entryOf(name).manifest;
}

/** The permissions every registered service declares, installed on this box or not. */
export function registryPermissions(): PermissionDeclarations[] {
  return Object.values(SERVICES).map((e) => e.manifest.permissions);
}

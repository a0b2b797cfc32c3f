/**
 * A service's manifest: what the supervisor, the gateway and the planner read about a service, as data
 * (`services/<name>/service-manifest.ts`). The supervisor imports manifests only, never a service's code: a service's
 * code (its routes, migrations, zod schemas and the libraries they pull in) loads in the service host alone.
 * `defineService` takes the manifest as part of its definition, so there is one source of truth.
 */
import type { AccessRule } from "./access.js";
import type { PermissionDeclarations } from "./permissions.js";

export interface ServiceManifest {
  name: string;
  version: string;
  description: string;
  /** Services that must be running before this one starts (the planner's order). */
  dependsOn: string[];
  /** Permission per route, enforced by the gateway; unmatched routes need `*`. */
  access: AccessRule[];
  /** The permissions `access` needs (`<name>:…` only), each with a description and its default roles. */
  permissions: PermissionDeclarations;
}

/** The manifest part of a definition (or of a manifest): the fields above and nothing else. */
export function manifestOf(def: ServiceManifest): ServiceManifest {
  const { name, version, description, dependsOn, access, permissions } = def;
  return { name, version, description, dependsOn, access, permissions };
}

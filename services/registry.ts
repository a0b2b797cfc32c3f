/**
 * Every service the appliance can run, by name. Explicit imports (no path built from input) so a service
 * name from config or a URL can never load arbitrary code. A new service adds one line here: its code and
 * its permissions (`<name>/permissions.ts`, data only, so the supervisor can read every service's
 * permissions for identity's built-in roles without loading the services themselves).
 */
import type { PermissionDeclarations, ServiceDefinition } from "../appliance/kit/index.js";

type Loader = () => Promise<ServiceDefinition<unknown>>;

interface Entry {
  load: Loader;
  permissions: () => Promise<PermissionDeclarations>;
}

/** One registry line: where a service's code and its permission declarations are. */
const entry = (
  code: () => Promise<{ default: unknown }>,
  perms: () => Promise<{ permissions: PermissionDeclarations }>,
): Entry => ({
  load: async () => (await code()).default as ServiceDefinition<unknown>,
  permissions: async () => (await perms()).permissions,
});

export const SERVICES: Readonly<Record<string, Entry>> = {
  ai: entry(
    () => import("./ai/index.js"),
    () => import("./ai/permissions.js"),
  ),
  files: entry(
    () => import("./files/index.js"),
    () => import("./files/permissions.js"),
  ),
  forms: entry(
    () => import("./forms/index.js"),
    () => import("./forms/permissions.js"),
  ),
  identity: entry(
    () => import("./identity/index.js"),
    () => import("./identity/permissions.js"),
  ),
  media: entry(
    () => import("./media/index.js"),
    () => import("./media/permissions.js"),
  ),
  system: entry(
    () => import("./system/index.js"),
    () => import("./system/permissions.js"),
  ),
};

/** Loads a service definition by name; throws on an unknown name. */
export async function loadService(name: string): Promise<ServiceDefinition<unknown>> {
  const found = Object.hasOwn(SERVICES, name) ? SERVICES[name] : undefined;
  if (!found) throw new Error(`unknown service: ${name}`);
  return found.load();
}

/** The permissions every registered service declares, installed on this box or not. */
export async function registryPermissions(): Promise<PermissionDeclarations[]> {
  return Promise.all(Object.values(SERVICES).map((e) => e.permissions()));
}

/**
 * Every service the appliance can run, by name. Explicit imports (no path built from input) so a service
 * name from config or a URL can never load arbitrary code. A new service adds one line here.
 */
import type { ServiceDefinition } from "../appliance/kit/index.js";

type Loader = () => Promise<ServiceDefinition<unknown>>;

export const SERVICE_LOADERS: Readonly<Record<string, Loader>> = {
  files: async () => (await import("./files/index.js")).default as ServiceDefinition<unknown>,
  identity: async () => (await import("./identity/index.js")).default as ServiceDefinition<unknown>,
  system: async () => (await import("./system/index.js")).default as ServiceDefinition<unknown>,
};

/** Loads a service definition by name; throws on an unknown name. */
export async function loadService(name: string): Promise<ServiceDefinition<unknown>> {
  const loader = Object.hasOwn(SERVICE_LOADERS, name) ? SERVICE_LOADERS[name] : undefined;
  if (!loader) throw new Error(`unknown service: ${name}`);
  return loader();
}

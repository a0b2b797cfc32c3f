/** The appliance API (appliance-api.ts) loaded on its first use; see appliance-access.ts. */
import { APPLIANCE_ACCESS, type ApplianceApiHandle } from "./appliance-access.js";
import type { ApplianceApiDeps } from "./appliance-api.js";

/** The appliance API, created on its first request (or when the OpenAPI document is first asked for). */
export function lazyApplianceApi(deps: ApplianceApiDeps): ApplianceApiHandle {
  let api: Promise<ApplianceApiHandle> | undefined;
  const load = () => {
    api ??= import("./appliance-api.js").then((m) => m.createApplianceApi(deps));
    return api;
  };
  return {
    access: APPLIANCE_ACCESS,
    handle: async (req, res, call) => (await load()).handle(req, res, call),
    openApi: async () => (await load()).openApi(),
  };
}

/** Turns a profile's service set and isolation mode into units (processes) with dependencies. */
import type { ServiceManifest } from "../kit/manifest.js";
import { topoOrder } from "./planner.js";
import type { UnitSpec } from "./state.js";

/** The shared unit's name. */
export const SHARED_UNIT = "services";

/** `process`: one unit per service, dependencies as declared. `shared`: one unit holding all, in start order. */
export function unitsFor(defs: ServiceManifest[], isolation: "process" | "shared"): UnitSpec[] {
  const ordered = topoOrder(defs.map((d) => ({ name: d.name, dependsOn: d.dependsOn })));
  if (isolation === "shared")
    return [{ name: SHARED_UNIT, services: ordered.map((d) => d.name), dependsOn: [] }];
  return ordered.map((d) => ({ name: d.name, services: [d.name], dependsOn: d.dependsOn }));
}

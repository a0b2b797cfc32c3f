/**
 * The import rules bite: `scripts/layers.ts` (what `npm run lint` runs on the real tree) on a fixture tree
 * with one upward import per layer and a cycle reports exactly those. A cycle is reported once, on the edge
 * no other rule already flags.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkLayers } from "../../scripts/layers.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/layers");

describe("import layers", () => {
  it("reports each upward import and the cycle in the fixture tree, and nothing else", async () => {
    const { violations } = await checkLayers(["appliance", "services"], FIXTURE);
    const found = violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
    expect(found).toEqual(
      [
        "lib-imports-nothing-of-the-appliance: appliance/lib/upward.ts → appliance/kit/context.ts",
        "kit-imports-only-lib: appliance/kit/runtime.ts → appliance/sync/recorder.ts",
        "services-import-only-sync-kit-and-lib: services/demo/index.ts → appliance/hub/hub.ts",
        "nothing-imports-the-cli: appliance/hub/hub.ts → appliance/cli/hub.ts",
        "no-circular: appliance/cli/hub.ts → appliance/hub/hub.ts",
      ].sort(),
    );
  }, 60_000);
});

import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { bundledEntry } from "./bundle-entry.js";

describe("bundledEntry", () => {
  it("names a sibling entry for a module of dist/bundle, and nothing elsewhere", () => {
    const inBundle = pathToFileURL("/opt/nexus/app/dist/bundle/chunk-ABC.js").href;
    expect(bundledEntry(inBundle, "host")).toBe("/opt/nexus/app/dist/bundle/host.js");
    expect(
      bundledEntry(pathToFileURL("/opt/nexus/app/dist/appliance/supervisor/executor.js").href, "host"),
    ).toBeNull();
    expect(bundledEntry(pathToFileURL("/src/appliance/bundle/x.ts").href, "host")).toBeNull();
  });
});

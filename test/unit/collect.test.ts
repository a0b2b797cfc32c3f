/**
 * The web app's pure pieces and its file serving: drafts (finding the engine's root in a component tree,
 * removing the deprecatedID a reopened draft gets) and collect-files (paths, types, service worker headers,
 * revalidation, nothing outside its files).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findEngineRoot, withoutDeprecatedId } from "../../appliance/collect/src/drafts.js";
import { COLLECT_CSP, loadCollectFiles } from "../../appliance/gateway/collect-files.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { serveFiles } from "../helpers/static-files.js";

describe("drafts", () => {
  it("removes deprecatedID in its forms (prefixed, empty, self-closing) and nothing else", () => {
    const meta = (d: string) =>
      `<data id="f"><a>1</a><meta><instanceID>uuid:2</instanceID>${d}</meta></data>`;
    for (const d of [
      "<deprecatedID>uuid:1</deprecatedID>",
      "<orx:deprecatedID>uuid:1</orx:deprecatedID>",
      "<deprecatedID/>",
      '<deprecatedID xmlns="http://openrosa.org/xforms"></deprecatedID>',
    ]) {
      expect(withoutDeprecatedId(meta(d))).toBe(meta(""));
    }
    expect(withoutDeprecatedId(meta(""))).toBe(meta(""));
  });

  it("finds the engine root in a component's subtree, children or nested components", () => {
    const root = { prepareInstancePayload: async () => ({ data: [new FormData()] as [FormData] }) };
    const tree = {
      component: {
        props: {},
        subTree: { children: [{ children: "text" }, { component: { props: { form: root } } }] },
      },
    };
    expect(findEngineRoot(tree)).toBe(root);
    expect(findEngineRoot({ component: { props: { form: { title: "not a root" } } } })).toBeNull();
    expect(findEngineRoot(undefined)).toBeNull();
  });
});

describe("collect files", () => {
  const dir = tempDir();
  let base = "";
  let close: () => void = () => {};
  beforeAll(async () => {
    mkdirSync(join(dir, "assets"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>c</title>");
    writeFileSync(join(dir, "sw.js"), "self.x=1");
    writeFileSync(join(dir, "manifest.webmanifest"), "{}");
    writeFileSync(join(dir, "assets", "collect-abc.js"), "x");
    ({ base, close } = await serveFiles(loadCollectFiles(dir)!));
  });
  afterAll(() => {
    close();
    removeDir(dir);
  });

  it("is absent (null) when the app was not built", () => {
    expect(loadCollectFiles(join(dir, "missing"))).toBeNull();
  });

  it("serves the page with its CSP, the worker revalidated with its scope, hashed assets immutable", async () => {
    const page = await fetch(`${base}/collect/`);
    expect(page.headers.get("content-security-policy")).toBe(COLLECT_CSP);
    expect(
      (await fetch(`${base}/collect/`, { headers: { "if-none-match": page.headers.get("etag")! } })).status,
    ).toBe(304);
    const sw = await fetch(`${base}/collect/sw.js`);
    expect(sw.headers.get("cache-control")).toBe("no-cache");
    expect(sw.headers.get("service-worker-allowed")).toBe("/collect/");
    const js = await fetch(`${base}/collect/assets/collect-abc.js`);
    expect(js.headers.get("cache-control")).toContain("immutable");
    const bare = await fetch(`${base}/collect`, { redirect: "manual" });
    expect([bare.status, bare.headers.get("location")]).toEqual([308, "/collect/"]);
  });

  it("leaves every other path to the gateway", async () => {
    for (const p of [
      "/collect/index.html",
      "/collect/assets/",
      "/collect/assets/missing.js",
      "/collect/x",
      "/",
    ]) {
      expect(await (await fetch(`${base}${p}`)).text(), p).toBe("fallthrough");
    }
  });
});

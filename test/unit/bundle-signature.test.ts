/** The bundle manifest and its ed25519 signature: format, tampering, foreign keys, validity without a clock. */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Manifest, parseManifest } from "../../appliance/upgrade/manifest.js";
import { compareVersions } from "../../appliance/upgrade/marker.js";
import {
  publicKeyPem,
  signBundle,
  validityProblems,
  verifyBundle,
} from "../../appliance/upgrade/signature.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) removeDir(d);
});

const DAY = 86_400_000;
const key = generateKeyPairSync("ed25519").privateKey;
const pub = () => [generateKeyPairSync("ed25519").publicKey];

async function bundle(now = new Date("2026-06-01T00:00:00Z"), validityDays = 30) {
  const dir = tempDir("nexus-sig-");
  dirs.push(dir);
  mkdirSync(join(dir, "app"));
  writeFileSync(join(dir, "app/a.js"), "export const a = 1;\n");
  writeFileSync(join(dir, "install.sh"), "#!/bin/sh\n");
  const m = await signBundle(dir, { version: "1.2.3", arch: "x86_64", buildTime: now.toISOString() }, key, {
    validityDays,
    now,
  });
  return { dir, m };
}

const times = (signed: string, days: number, built = signed): Manifest => ({
  version: "1.0.0",
  arch: "x86_64",
  buildTime: built,
  signedAt: signed,
  validUntil: new Date(Date.parse(signed) + days * DAY).toISOString(),
  files: new Map(),
});

describe("bundle signature", () => {
  it("verifies with the signer's key, and openssl verifies the same signature", async () => {
    const { dir, m } = await bundle();
    const ok = await verifyBundle(dir, [key], { now: new Date("2026-06-02T00:00:00Z") });
    expect(ok).toMatchObject({ ok: true, manifest: { version: "1.2.3" } });
    expect(m.files.size).toBe(2);
    writeFileSync(join(dir, "..", `${dir.split("/").pop()}.pem`), publicKeyPem(key));
    const pem = join(dir, "..", `${dir.split("/").pop()}.pem`);
    const args = ["pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin", "-in", join(dir, "manifest")];
    expect(
      execFileSync("openssl", [...args, "-sigfile", join(dir, "manifest.sig")], { encoding: "utf8" }),
    ).toMatch(/Signature Verified Successfully/);
    removeDir(pem);
  });

  it("refuses a foreign signer, one changed byte, an added file, a missing signature", async () => {
    const { dir } = await bundle();
    expect(await verifyBundle(dir, pub())).toMatchObject({ ok: false, reason: /signature does not verify/ });
    writeFileSync(join(dir, "app/a.js"), "export const a = 2;\n");
    expect(await verifyBundle(dir, [key])).toMatchObject({
      ok: false,
      reason: /checksum mismatch: \.\/app\/a\.js/,
    });
    const other = await bundle();
    writeFileSync(join(other.dir, "app/extra.js"), "");
    expect(await verifyBundle(other.dir, [key])).toMatchObject({ ok: false, reason: /not in the manifest/ });
    removeDir(join(other.dir, "manifest.sig"));
    expect(await verifyBundle(other.dir, [key])).toMatchObject({ ok: false, reason: /unsigned/ });
  });

  it("parses only well-formed manifests (no path outside the bundle)", () => {
    const head = "nexus-bundle 1\nversion 1.0.0\narch x86_64\nbuild-time 2026-01-01T00:00:00Z\n";
    const tail = "signed-at 2026-01-01T00:00:00Z\nvalid-until 2026-02-01T00:00:00Z\n";
    const sum = "a".repeat(64);
    expect(parseManifest(`${head}${tail}${sum}  ./app/x\n`).files.get("./app/x")).toBe(sum);
    expect(() => parseManifest(`${head}${tail}${sum}  ./../etc/passwd\n`)).toThrow(/bad path/);
    expect(() => parseManifest(`${head}${sum}  ./x\n`)).toThrow(/no signed-at/);
    expect(() => parseManifest(`nexus-bundle 2\n${head}`)).toThrow(/format 1/);
    expect(() => parseManifest(head.replace("1.0.0", "1.0.0;rm -rf /") + tail)).toThrow(
      /bad line|bad version/,
    );
  });

  it("judges validity against the signing time and the installed build time, not a wrong clock", () => {
    const m = times("2026-06-01T00:00:00Z", 30);
    // A box whose clock reads 1970 (no RTC) installs a bundle valid when it was signed.
    expect(validityProblems(m, { now: new Date(0) })).toEqual([]);
    expect(validityProblems(m, { now: new Date(0), installedBuildTime: "2026-05-01T00:00:00Z" })).toEqual([]);
    // Expired before the installed version was built: refused whatever the clock says.
    const p = validityProblems(m, { now: new Date(0), installedBuildTime: "2026-08-01T00:00:00Z" });
    expect(p.join()).toMatch(/before the installed version was built/);
    // A plausible clock past the end: refused.
    expect(validityProblems(m, { now: new Date("2026-09-01T00:00:00Z") }).join()).toMatch(/expired/);
    // Nonsense periods.
    expect(validityProblems(times("2026-06-01T00:00:00Z", -1), {}).join()).toMatch(/ends before/);
    expect(validityProblems(times("2026-06-01T00:00:00Z", 5000), { now: new Date(0) }).join()).toMatch(
      /over/,
    );
    expect(
      validityProblems(times("2026-06-01T00:00:00Z", 30, "2026-07-01T00:00:00Z"), {
        now: new Date(0),
      }).join(),
    ).toMatch(/signed before it was built/);
  });

  it("orders versions numerically, a pre-release before its release", () => {
    expect(compareVersions("0.10.0", "0.9.9")).toBe(1);
    expect(compareVersions("1.0.0-rc.1", "1.0.0")).toBe(-1);
    expect(compareVersions("1.2.3", "1.2.3")).toBe(0);
    expect(compareVersions("0.1.0", "0.2.0")).toBe(-1);
  });
});

/**
 * `nexus models install|list|pin|remove|sign` on a box's data dir (no appliance running): a pack the test builds
 * is refused unsigned, signed with `nexus models sign` by a key the box trusts, installed, listed with its licence
 * and signer, pinned (remove refused), unpinned and removed; a pack with a wrong checksum is refused with a
 * non-zero exit.
 */

import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  modelsInstall,
  modelsList,
  modelsPin,
  modelsRemove,
  modelsSign,
} from "../../appliance/cli/models.js";
import { keyId } from "../../appliance/lib/ed25519.js";
import { buildPack, sha256Of } from "../../services/ai/pack.js";
import { ROOT, removeDir, TSX, tempDir } from "../helpers/appliance.js";
import { addManifest, addModel } from "../helpers/onnx.js";

const dir = tempDir();
// Built-in packs are left out: this checks the registry, not the npm packages' models.
const env = { ...process.env, NEXUS_AI_BUILTIN_PACKS: "false" };
process.env.NEXUS_AI_BUILTIN_PACKS = "false";
afterAll(() => removeDir(dir));

function nexus(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", TSX, join(ROOT, "appliance/cli/main.ts"), "-d", dir, ...args],
      { timeout: 60_000, env },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** Collects what console.log prints until restore(). */
function captureLog() {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  const restore = () => {
    console.log = original;
  };
  return { text: () => lines.join("\n"), restore };
}

async function packFile(name: string, sha?: string): Promise<string> {
  const model = addModel(3);
  const manifest = addManifest(model, 3, {
    name: "cli-add",
    version: "2.0.0",
    license: "BSD-3-Clause",
    files: { "model.onnx": sha ?? sha256Of(model) },
  });
  const file = join(dir, name);
  writeFileSync(file, await buildPack(manifest, { "model.onnx": model }));
  return file;
}

describe("nexus models", () => {
  it("refuses an unsigned pack, signs it, installs, lists, pins, refuses to remove pinned, removes", async () => {
    const pack = await packFile("ok.tar");
    await expect(modelsInstall(dir, "local", pack)).rejects.toThrow(/unsigned pack refused/);
    const key = generateKeyPairSync("ed25519");
    const keyFile = join(dir, "vendor.key");
    writeFileSync(keyFile, key.privateKey.export({ type: "pkcs8", format: "pem" }));
    const trusted = join(dir, "services", "ai", "trusted-keys");
    mkdirSync(trusted, { recursive: true });
    writeFileSync(join(trusted, "vendor.pem"), key.publicKey.export({ type: "spki", format: "pem" }));
    const signed = captureLog();
    await modelsSign(pack, keyFile);
    signed.restore();
    expect(signed.text()).toContain(`with key ${keyId(key.publicKey)}`);
    const install = await nexus("models", "install", pack);
    expect(install.stdout).toMatch(/Installed cli-add 2\.0\.0 \(generic, onnx, licence BSD-3-Clause\)/);
    // The other subcommands' functions in this process (each `nexus` start compiles the CLI through tsx).
    const out = captureLog();
    modelsList(dir, "local", true);
    expect(JSON.parse(out.text())).toMatchObject([
      { name: "cli-add", license: "BSD-3-Clause", pinned: false, signer: keyId(key.publicKey) },
    ]);
    modelsPin(dir, "local", "cli-add", true);
    await expect(modelsRemove(dir, "local", "cli-add")).rejects.toThrow(/pinned/);
    modelsPin(dir, "local", "cli-add", false);
    await modelsRemove(dir, "local", "cli-add");
    out.restore();
    expect(out.text()).toMatch(/cli-add pinned\.\ncli-add unpinned\.\nRemoved cli-add\./);
    const list = await nexus("models", "list");
    expect(list.code).toBe(0);
    expect(list.stdout).not.toMatch(/cli-add/);
  }, 60_000);

  it("refuses a pack whose checksum does not match", async () => {
    const r = await nexus("models", "install", await packFile("bad.tar", "f".repeat(64)));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/checksum mismatch for model\.onnx/);
  }, 30_000);
});

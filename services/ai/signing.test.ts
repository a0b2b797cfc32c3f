/**
 * Pack signatures: a signed pack installs only with its key trusted; unsigned, tampered (manifest changed after
 * signing) and unknown-signer packs are refused unless the dev flag is set; `nexus models sign`'s re-packing
 * (plain and gzip) gives a pack that verifies.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { keyId } from "../../appliance/lib/ed25519.js";
import { addManifest, addModel } from "../../test/helpers/onnx.js";
import { buildPack, unpackPack } from "./pack.js";
import { signPackFile } from "./sign-pack.js";
import { checkPackSignature, trustedKeys } from "./signing.js";

const dir = mkdtempSync(join(tmpdir(), "ai-sign-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const vendor = generateKeyPairSync("ed25519");
const stranger = generateKeyPairSync("ed25519");
const model = addModel(4);
const manifest = addManifest(model);

async function unpack(pack: Buffer) {
  const file = join(dir, `${Math.random()}.tar`);
  writeFileSync(file, pack);
  const p = await unpackPack(file, join(dir, "staging"), { maxBytes: 1e7 });
  p.discard();
  return p;
}

describe("pack signatures", () => {
  it("accepts a pack signed by a trusted key and names the signer", async () => {
    const p = await unpack(await buildPack(manifest, { "model.onnx": model }, vendor.privateKey));
    expect(p.signature?.length).toBe(64);
    const v = checkPackSignature(p.manifestBytes, p.signature, [stranger.publicKey, vendor.publicKey], false);
    expect(v.signer).toBe(keyId(vendor.publicKey));
  });

  it("refuses unsigned, unknown-signer and tampered packs, unless the dev flag", async () => {
    const unsigned = await unpack(await buildPack(manifest, { "model.onnx": model }));
    expect(() => checkPackSignature(unsigned.manifestBytes, null, [vendor.publicKey], false)).toThrow(
      /unsigned pack refused/,
    );
    expect(checkPackSignature(unsigned.manifestBytes, null, [vendor.publicKey], true).signer).toBeNull();
    const bystranger = await unpack(await buildPack(manifest, { "model.onnx": model }, stranger.privateKey));
    expect(() =>
      checkPackSignature(bystranger.manifestBytes, bystranger.signature, [vendor.publicKey], false),
    ).toThrow(/does not verify/);
    expect(() => checkPackSignature(bystranger.manifestBytes, bystranger.signature, [], false)).toThrow(
      /no trusted public key/,
    );
    const signed = await unpack(await buildPack(manifest, { "model.onnx": model }, vendor.privateKey));
    const tampered = Buffer.from(signed.manifestBytes.toString().replace('"MIT"', '"ISC"'));
    expect(() => checkPackSignature(tampered, signed.signature, [vendor.publicKey], false)).toThrow(
      /does not verify/,
    );
  });

  it("signs an existing pack file, plain or gzip, replacing an old signature", async () => {
    for (const gz of [false, true]) {
      const raw = await buildPack(manifest, { "model.onnx": model }, stranger.privateKey);
      const src = join(dir, `in-${gz}.tar`);
      writeFileSync(src, gz ? gzipSync(raw) : raw);
      await signPackFile(src, join(dir, `out-${gz}.tar`), vendor.privateKey);
      const out = await unpackPack(join(dir, `out-${gz}.tar`), join(dir, "staging"), { maxBytes: 1e7 });
      out.discard();
      expect(out.files.map((f) => f.name)).toEqual(["model.onnx"]);
      const v = checkPackSignature(out.manifestBytes, out.signature, [vendor.publicKey], false);
      expect(v.signer).toBe(keyId(vendor.publicKey));
    }
  });

  it("loads trusted keys from folders and refuses a broken key file", () => {
    const keys = join(dir, "keys");
    mkdirSync(keys);
    writeFileSync(join(keys, "vendor.pem"), vendor.publicKey.export({ type: "spki", format: "pem" }));
    expect(trustedKeys([keys, join(dir, "missing")]).map(keyId)).toEqual([keyId(vendor.publicKey)]);
    writeFileSync(join(keys, "broken.pem"), "not a key");
    expect(() => trustedKeys([keys])).toThrow(/not a readable public key/);
  });
});

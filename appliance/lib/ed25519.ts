/**
 * Trusted ed25519 public keys and detached signatures (node:crypto only): the upgrade bundle and the AI
 * service's model packs are both signed this way, a signature over a manifest's exact bytes.
 */
import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Public keys (`*.pem`) in a trusted-keys folder, in name order; a missing folder has none. */
export function loadTrustedKeys(dir: string): KeyObject[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".pem"))
    .sort()
    .map((f) => createPublicKey(readFileSync(join(dir, f), "utf8")));
}

/** A short id of a public key (or of a private key's public half): the first 16 hex digits of the sha256 of its SPKI DER. */
export function keyId(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const der = pub.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex").slice(0, 16);
}

/** The first key that verifies `sig` over `data`, or null. */
export function signerOf(data: Buffer, sig: Buffer, keys: KeyObject[]): KeyObject | null {
  return keys.find((k) => verify(null, data, k, sig)) ?? null;
}

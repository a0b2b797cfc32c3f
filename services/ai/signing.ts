/**
 * Pack signatures: `manifest.sig` in the pack is an ed25519 signature over manifest.json's exact bytes, and the
 * manifest holds the sha256 of every file, so a valid signature covers the whole pack. Trusted keys: the
 * release keys the installed version ships (`<app>/trusted-keys`, `installer/trusted-keys` in a checkout; the
 * same keys that sign upgrade bundles) and the box's own folder `<data>/services/ai/trusted-keys` (`*.pem`,
 * read on every install, so adding a key needs no restart). An unsigned pack or one no trusted key verifies is
 * refused unless `allowUnsignedPacks` (a development flag) is set.
 */
import type { KeyObject } from "node:crypto";
import { join } from "node:path";
import { keyId, loadTrustedKeys, signerOf } from "../../appliance/lib/ed25519.js";
import { findPackageRoot } from "../../appliance/lib/package-root.js";
import type { AiConfig } from "./config.js";
import { ManifestError } from "./manifest.js";

/** The folders whose `*.pem` keys a box trusts for packs (`serviceDir`: the service's data dir). */
export function trustedKeyDirs(serviceDir: string, config: Pick<AiConfig, "trustedKeysDir">): string[] {
  const app = findPackageRoot(import.meta.url, "nexus-edge");
  return [
    join(app, "trusted-keys"),
    join(app, "installer", "trusted-keys"),
    config.trustedKeysDir ?? join(serviceDir, "trusted-keys"),
  ];
}

/** Every trusted key now (unreadable PEM files refuse the install rather than being skipped silently). */
export function trustedKeys(dirs: string[]): KeyObject[] {
  return dirs.flatMap((d) => {
    try {
      return loadTrustedKeys(d);
    } catch (err) {
      throw new ManifestError(
        `a trusted key in ${d} is not a readable public key: ${(err as Error).message}`,
      );
    }
  });
}

/** What the check found: the signer's key id, or null for an unsigned pack let in by the dev flag. */
export interface SignatureVerdict {
  signer: string | null;
}

/** Checks a pack's signature; throws ManifestError when it must be refused. */
export function checkPackSignature(
  manifestBytes: Buffer,
  signature: Buffer | null,
  keys: KeyObject[],
  allowUnsigned: boolean,
): SignatureVerdict {
  if (!signature) {
    if (allowUnsigned) return { signer: null };
    throw new ManifestError(
      "unsigned pack refused: it has no manifest.sig (sign it with `nexus models sign`, or set allowUnsignedPacks for development)",
    );
  }
  const key = keys.length ? signerOf(manifestBytes, signature, keys) : null;
  if (key) return { signer: keyId(key) };
  if (allowUnsigned) return { signer: null };
  throw new ManifestError(
    keys.length
      ? "pack signature does not verify with any trusted key (tampered manifest or unknown signer)"
      : "no trusted public key to verify the pack's signature with",
  );
}

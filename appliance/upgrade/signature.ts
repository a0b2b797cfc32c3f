/**
 * Signing and verifying a bundle: ed25519 over the manifest's bytes (node:crypto; `openssl pkeyutl -verify
 * -rawin` checks the same signature in install.sh). Validity is judged against the bundle's own signing time
 * and the installed version's build time, not the box's clock alone: a box without a reliable clock (no RTC
 * battery, no network time) must still install a bundle that was valid when it was signed.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadTrustedKeys, signerOf } from "../lib/ed25519.js";
import {
  formatManifest,
  hashBundle,
  listBundleFiles,
  MANIFEST,
  type Manifest,
  parseManifest,
  SIGNATURE,
} from "./manifest.js";

export { loadTrustedKeys };

/** The longest validity period a bundle may claim. */
export const MAX_VALIDITY_DAYS = 3 * 366;
const DAY = 86_400_000;

/** Reads a PEM private key, or creates one (a local build's dev key) when `create` and it is missing. */
export function loadSigningKey(file: string, create = false): KeyObject {
  if (!existsSync(file)) {
    if (!create) throw new Error(`signing key ${file} not found`);
    const { privateKey } = generateKeyPairSync("ed25519");
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  return createPrivateKey(readFileSync(file, "utf8"));
}

/** The public key's PEM (what a box trusts). */
export function publicKeyPem(key: KeyObject): string {
  return createPublicKey(key).export({ type: "spki", format: "pem" }) as string;
}

/** Writes the manifest and its detached signature into the bundle dir. */
export function writeSignedManifest(dir: string, m: Manifest, key: KeyObject): void {
  const text = Buffer.from(formatManifest(m));
  writeFileSync(join(dir, MANIFEST), text);
  writeFileSync(join(dir, SIGNATURE), sign(null, text, key));
}

/** The signing and expiry times for a signature made at `signedAt`. */
export function signingTimes(validityDays: number, signedAt = new Date()) {
  return {
    signedAt: signedAt.toISOString(),
    validUntil: new Date(signedAt.getTime() + validityDays * DAY).toISOString(),
  };
}

/** Writes the manifest (hashing every file) and its signature into the bundle dir. */
export async function signBundle(
  dir: string,
  header: Omit<Manifest, "files" | "signedAt" | "validUntil">,
  key: KeyObject,
  opts: { validityDays: number; now?: Date; onFile?: (done: number, total: number) => void },
): Promise<Manifest> {
  const m: Manifest = {
    ...header,
    ...signingTimes(opts.validityDays, opts.now),
    files: await hashBundle(dir, opts.onFile),
  };
  writeSignedManifest(dir, m, key);
  return m;
}

/** What a box knows for judging a bundle's validity period. */
export interface ValidityContext {
  /** The installed version's build time (ISO); absent on a first install. */
  installedBuildTime?: string;
  now?: Date;
}

/** Problems with the manifest's times; empty when the bundle may be installed. */
export function validityProblems(m: Manifest, ctx: ValidityContext): string[] {
  const built = Date.parse(m.buildTime);
  const signed = Date.parse(m.signedAt);
  const until = Date.parse(m.validUntil);
  const problems: string[] = [];
  if (signed < built) problems.push("signed before it was built");
  if (until <= signed) problems.push("validity ends before the signing time");
  if (until - signed > MAX_VALIDITY_DAYS * DAY) problems.push(`validity over ${MAX_VALIDITY_DAYS} days`);
  // The installed version was built at a time the box knows really passed: a bundle whose validity ended
  // before that is expired whatever the box's clock says.
  const floor = ctx.installedBuildTime ? Date.parse(ctx.installedBuildTime) : Number.NaN;
  if (!Number.isNaN(floor) && until < floor) {
    problems.push(
      `expired ${m.validUntil}, before the installed version was built (${ctx.installedBuildTime})`,
    );
  }
  // The clock counts only when it is plausible (not before the installed build or the bundle's signing).
  const now = (ctx.now ?? new Date()).getTime();
  const clockPlausible = now >= (Number.isNaN(floor) ? signed : Math.max(floor, signed));
  if (clockPlausible && now > until)
    problems.push(`expired ${m.validUntil} (the box's clock says ${new Date(now).toISOString()})`);
  return problems;
}

/** The verdict on a bundle dir: signature by a trusted key, every file's checksum, no extra files, validity. */
export async function verifyBundle(
  dir: string,
  trusted: KeyObject[],
  ctx: ValidityContext & { skipChecksums?: boolean } = {},
): Promise<{ ok: true; manifest: Manifest } | { ok: false; reason: string }> {
  const manifestFile = join(dir, MANIFEST);
  const sigFile = join(dir, SIGNATURE);
  if (!existsSync(manifestFile) || !existsSync(sigFile))
    return { ok: false, reason: "unsigned: no manifest or signature" };
  if (!trusted.length) return { ok: false, reason: "no trusted public key to verify with" };
  const text = readFileSync(manifestFile);
  const sig = readFileSync(sigFile);
  if (!signerOf(text, sig, trusted)) {
    return {
      ok: false,
      reason: "signature does not verify with any trusted key (tampered manifest or unknown signer)",
    };
  }
  let m: Manifest;
  try {
    m = parseManifest(text.toString("utf8"));
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  // Only for a caller that has just checked every file itself (install.sh's sha256sum pass).
  if (ctx.skipChecksums) {
    const problems = validityProblems(m, ctx);
    return problems.length
      ? { ok: false, reason: `validity: ${problems.join("; ")}` }
      : { ok: true, manifest: m };
  }
  const actual = await hashBundle(dir);
  for (const [path, sum] of m.files) {
    if (!actual.has(path)) return { ok: false, reason: `missing file ${path}` };
    if (actual.get(path) !== sum) return { ok: false, reason: `checksum mismatch: ${path}` };
  }
  const extra = listBundleFiles(dir).filter((p) => !m.files.has(p));
  if (extra.length)
    return { ok: false, reason: `files not in the manifest: ${extra.slice(0, 3).join(", ")}` };
  const problems = validityProblems(m, ctx);
  if (problems.length) return { ok: false, reason: `validity: ${problems.join("; ")}` };
  return { ok: true, manifest: m };
}

/**
 * The bundle manifest: a text file the installer's POSIX sh can read (`key value` header lines, then
 * `sha256sum` lines for every file), signed whole by a detached ed25519 signature (manifest.sig, 64 raw bytes).
 *
 *   nexus-bundle 1
 *   version 0.2.0
 *   arch x86_64
 *   build-time 2026-12-07T15:00:00.000Z
 *   signed-at 2026-12-07T15:00:05.000Z
 *   valid-until 2027-12-07T15:00:05.000Z
 *   <sha256>  ./app/package.json
 */
import { createHash } from "node:crypto";
import { createReadStream, readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

export const MANIFEST = "manifest";
export const SIGNATURE = "manifest.sig";

export interface ManifestHeader {
  version: string;
  arch: string;
  buildTime: string;
  signedAt: string;
  validUntil: string;
}

export interface Manifest extends ManifestHeader {
  /** Bundle-relative paths (`./app/…`) → sha256 hex. */
  files: Map<string, string>;
}

const HEADER_KEYS: Record<keyof ManifestHeader, string> = {
  version: "version",
  arch: "arch",
  buildTime: "build-time",
  signedAt: "signed-at",
  validUntil: "valid-until",
};

/** Every regular file under `dir` except the manifest and its signature, as `./a/b` paths, sorted. */
export function listBundleFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() || e.isSymbolicLink()) out.push(`./${relative(dir, p).split(sep).join("/")}`);
    }
  };
  walk(dir);
  return out.filter((p) => p !== `./${MANIFEST}` && p !== `./${SIGNATURE}`).sort();
}

/** sha256 hex of a file, streamed. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(file)
      .on("data", (c) => h.update(c))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")));
  });
}

/** Hashes every file of the bundle dir; `onFile` reports progress. */
export async function hashBundle(
  dir: string,
  onFile?: (done: number, total: number) => void,
): Promise<Map<string, string>> {
  const files = listBundleFiles(dir);
  const out = new Map<string, string>();
  for (const [i, f] of files.entries()) {
    out.set(f, await sha256File(join(dir, f)));
    onFile?.(i + 1, files.length);
  }
  return out;
}

/** The manifest's text. */
export function formatManifest(m: Manifest): string {
  const head = (Object.keys(HEADER_KEYS) as (keyof ManifestHeader)[]).map((k) => `${HEADER_KEYS[k]} ${m[k]}`);
  const sums = [...m.files].map(([path, sum]) => `${sum}  ${path}`);
  return `nexus-bundle 1\n${head.join("\n")}\n${sums.join("\n")}\n`;
}

/** Parses a manifest's text; throws on anything malformed (a path outside the bundle included). */
export function parseManifest(text: string): Manifest {
  const lines = text.split("\n").filter((l) => l !== "");
  if (lines[0] !== "nexus-bundle 1") throw new Error("not a nexus bundle manifest (format 1)");
  const header: Record<string, string> = {};
  const files = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const sum = /^([0-9a-f]{64}) {2}(\.\/[^\0]+)$/.exec(line);
    if (sum) {
      const path = sum[2] as string;
      if (path.split("/").some((s) => s === ".." || s === "")) throw new Error(`manifest: bad path ${path}`);
      files.set(path, sum[1] as string);
      continue;
    }
    const kv = /^([a-z-]+) (\S+)$/.exec(line);
    if (!kv) throw new Error(`manifest: bad line ${JSON.stringify(line.slice(0, 80))}`);
    header[kv[1] as string] = kv[2] as string;
  }
  const m = { files } as Manifest;
  for (const [k, key] of Object.entries(HEADER_KEYS) as [keyof ManifestHeader, string][]) {
    const v = header[key];
    if (!v) throw new Error(`manifest: no ${key}`);
    m[k] = v;
  }
  if (!/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(m.version))
    throw new Error(`manifest: bad version ${m.version}`);
  for (const k of ["buildTime", "signedAt", "validUntil"] as const) {
    if (Number.isNaN(Date.parse(m[k]))) throw new Error(`manifest: bad ${HEADER_KEYS[k]} ${m[k]}`);
  }
  return m;
}

/** Reads `<dir>/manifest`. */
export function readManifest(dir: string): Manifest {
  return parseManifest(readFileSync(join(dir, MANIFEST), "utf8"));
}

/**
 * Reading a model pack: a tar (optionally gzip-compressed) with `manifest.json` and the files it lists, all at
 * the root. Entries are written to a staging directory under generated names while they are hashed; nothing
 * from the archive becomes a path. Refused: a bad manifest, a file missing, extra or not matching its sha256,
 * links or directories, a pack over the size limit.
 */
import { createHash, type KeyObject, randomUUID, sign } from "node:crypto";
import {
  closeSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { type Manifest, ManifestError, PACK_FILE, parseManifest, SIGNATURE_FILE } from "./manifest.js";

const MANIFEST = "manifest.json";
const MAX_MANIFEST = 1024 * 1024;
const MAX_SIGNATURE = 1024;

/** One file of an unpacked pack, in staging. */
export interface StagedFile {
  name: string;
  path: string;
  sha256: string;
  size: number;
}

export interface UnpackedPack {
  manifest: Manifest;
  /** manifest.json's exact bytes (what a signature covers). */
  manifestBytes: Buffer;
  /** manifest.sig's bytes, or null for an unsigned pack. */
  signature: Buffer | null;
  files: StagedFile[];
  dir: string;
  /** Removes the staging directory. */
  discard(): void;
}

/** Progress of reading a pack: bytes of the archive read so far, of `total`. */
export type Progress = (done: number, total: number) => void;

/** Unpacks and verifies a pack file into a fresh directory under `stagingRoot`. Throws ManifestError. */
export async function unpackPack(
  packFile: string,
  stagingRoot: string,
  opts: { maxBytes: number; onProgress?: Progress },
): Promise<UnpackedPack> {
  const total = statSync(packFile).size;
  if (total > opts.maxBytes) throw new ManifestError(`pack is ${total} bytes; the limit is ${opts.maxBytes}`);
  const dir = join(stagingRoot, randomUUID());
  mkdirSync(dir, { recursive: true });
  const discard = () => rmSync(dir, { recursive: true, force: true });
  try {
    const staged = await extract(packFile, dir, total, opts.onProgress);
    const manifestFile = staged.get(MANIFEST);
    if (!manifestFile) throw new ManifestError("pack has no manifest.json at its root");
    if (manifestFile.size > MAX_MANIFEST) throw new ManifestError("manifest.json is too large");
    const manifestBytes = readFileSync(manifestFile.path);
    let raw: unknown;
    try {
      raw = JSON.parse(manifestBytes.toString("utf8"));
    } catch {
      throw new ManifestError("manifest.json is not valid JSON");
    }
    const manifest = parseManifest(raw);
    staged.delete(MANIFEST);
    const sigFile = staged.get(SIGNATURE_FILE);
    if (sigFile && sigFile.size > MAX_SIGNATURE) throw new ManifestError("manifest.sig is too large");
    const signature = sigFile ? readFileSync(sigFile.path) : null;
    staged.delete(SIGNATURE_FILE);
    return { manifest, manifestBytes, signature, files: checkFiles(manifest, staged), dir, discard };
  } catch (err) {
    discard();
    throw err;
  }
}

/** Every listed file present with its sha256, nothing else. */
function checkFiles(manifest: Manifest, staged: Map<string, StagedFile>): StagedFile[] {
  for (const name of staged.keys()) {
    if (!Object.hasOwn(manifest.files, name))
      throw new ManifestError(`pack file ${name} is not in the manifest`);
  }
  return Object.entries(manifest.files).map(([name, sha]) => {
    const f = staged.get(name);
    if (!f) throw new ManifestError(`pack is missing ${name}`);
    if (f.sha256 !== sha)
      throw new ManifestError(`checksum mismatch for ${name}: manifest says ${sha}, the file is ${f.sha256}`);
    return f;
  });
}

async function extract(
  packFile: string,
  dir: string,
  total: number,
  onProgress?: Progress,
): Promise<Map<string, StagedFile>> {
  const staged = new Map<string, StagedFile>();
  const gz = isGzip(packFile);
  const ex = tar.extract();
  let done = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      onProgress?.(done, total);
      cb(null, chunk);
    },
  });
  ex.on("entry", (header, stream, next) => {
    const name = header.name.replace(/^\.\//, "");
    const fail = (msg: string) => {
      stream.resume();
      ex.destroy(new ManifestError(msg));
    };
    if (header.type === "directory" && name === "") return void stream.resume().on("end", next);
    if (header.type !== "file") return fail(`pack entry ${name} is a ${header.type}; only plain files`);
    if (name !== MANIFEST && !PACK_FILE.test(name)) return fail(`pack entry name not allowed: ${name}`);
    if (staged.has(name)) return fail(`pack entry ${name} appears twice`);
    const path = join(dir, `${staged.size}.part`);
    const hash = createHash("sha256");
    let size = 0;
    stream.on("data", (c: unknown) => {
      hash.update(c as Buffer);
      size += (c as Buffer).length;
    });
    pipeline(stream, createWriteStream(path)).then(
      () => {
        staged.set(name, { name, path, sha256: hash.digest("hex"), size });
        next();
      },
      (err) => ex.destroy(err),
    );
  });
  const src = createReadStream(packFile);
  try {
    if (gz) await pipeline(src, counter, createGunzip(), ex);
    else await pipeline(src, counter, ex);
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    throw new ManifestError(`pack is not a readable tar archive: ${(err as Error).message}`);
  }
  return staged;
}

function isGzip(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(2);
    readSync(fd, head, 0, 2, 0);
    return head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds a pack (tar) from a manifest and its files' bytes, signed with `key` (ed25519) when given: for tests
 * and tools. `nexus models sign` signs an existing pack file (sign-pack.ts).
 */
export async function buildPack(
  manifest: object,
  files: Record<string, Buffer>,
  key?: KeyObject,
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  const text = Buffer.from(JSON.stringify(manifest, null, 2));
  pack.entry({ name: MANIFEST }, text);
  if (key) pack.entry({ name: SIGNATURE_FILE }, sign(null, text, key));
  for (const [name, data] of Object.entries(files)) pack.entry({ name }, data);
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** sha256 hex of a buffer. */
export const sha256Of = (data: Buffer | Uint8Array) => createHash("sha256").update(data).digest("hex");

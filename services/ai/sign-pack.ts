/**
 * Signing an existing pack file: every entry is copied through (streaming, so multi-GB packs are fine), an old
 * `manifest.sig` dropped, and a new one appended, signed over manifest.json's bytes. The result is a plain tar.
 */
import { type KeyObject, sign } from "node:crypto";
import { createReadStream, createWriteStream, renameSync, rmSync } from "node:fs";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { ManifestError, SIGNATURE_FILE } from "./manifest.js";

const MAX_MANIFEST = 1024 * 1024;

/** Writes `out` (atomically): `packFile` with a manifest.sig by `key`. */
export async function signPackFile(packFile: string, out: string, key: KeyObject): Promise<void> {
  const ex = tar.extract();
  const pack = tar.pack();
  let manifest: Buffer | null = null;
  ex.on("entry", (header, stream, next) => {
    const name = header.name.replace(/^\.\//, "");
    if (name === SIGNATURE_FILE) return void stream.resume().on("end", next);
    if (name === "manifest.json") {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on("data", (c: unknown) => {
        size += (c as Buffer).length;
        if (size <= MAX_MANIFEST) chunks.push(c as Buffer);
      });
      stream.on("end", () => {
        if (size > MAX_MANIFEST) return ex.destroy(new ManifestError("manifest.json is too large"));
        manifest = Buffer.concat(chunks);
        pack.entry({ ...header, name }, manifest, next);
      });
      return;
    }
    stream.pipe(pack.entry({ ...header, name }, next));
  });
  ex.on("finish", () => {
    if (!manifest) return void pack.destroy(new ManifestError("pack has no manifest.json at its root"));
    pack.entry({ name: SIGNATURE_FILE }, sign(null, manifest, key));
    pack.finalize();
  });
  const tmp = `${out}.part`;
  const head = await firstBytes(packFile);
  const src = createReadStream(packFile);
  try {
    await Promise.all([
      pipeline(src, head[0] === 0x1f && head[1] === 0x8b ? createGunzip() : new PassThrough(), ex),
      pipeline(pack, createWriteStream(tmp)),
    ]);
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

async function firstBytes(file: string): Promise<Buffer> {
  for await (const c of createReadStream(file, { start: 0, end: 1 })) return c as Buffer;
  return Buffer.alloc(0);
}

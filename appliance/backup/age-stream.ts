/**
 * age's payload (STREAM: ChaCha20-Poly1305 over 64 KiB chunks) with Node's native cipher, around headers
 * made and opened by the `age-encryption` package. typage's own payload code is pure JavaScript (~15 MB/s
 * here); this is the same format, so every object stays a plain age file (`age -d -i key` opens it), and
 * the tests check both directions against typage.
 * Format (age-encryption.org/v1): header, 16-byte nonce, then chunks; payload key = HKDF-SHA256(file key,
 * salt = nonce, info "payload"); chunk nonce = 11-byte big-endian counter ‖ 0x01 for the last chunk, else 0.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { Decrypter, Encrypter } from "age-encryption";

const CHUNK = 64 * 1024;
const TAG = 16;

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6);
  n[11] = last ? 1 : 0;
  return n;
}

function payloadKey(fileKey: Uint8Array, nonce: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

/** The header's length in `buf` (through the newline after `--- <mac>`), or -1 when not all there yet. */
function headerLength(buf: Buffer): number {
  const mac = buf.indexOf("\n--- ");
  if (mac < 0) return -1;
  const end = buf.indexOf("\n", mac + 5);
  return end < 0 ? -1 : end + 1;
}

/**
 * A fresh header for `recipient` and its file key. typage makes the header (its X25519 stanza and MAC); the
 * file key is seen by a second Recipient (the package's public interface) that adds no stanza, so the header
 * is exactly the one typage writes for that recipient alone, and no identity is needed (recipient mode).
 */
export async function newHeader(recipient: string): Promise<{ header: Buffer; fileKey: Uint8Array }> {
  let fileKey: Uint8Array | null = null;
  const e = new Encrypter();
  e.addRecipient(recipient);
  e.addRecipient({
    wrapFileKey(key: Uint8Array) {
      fileKey = key;
      return [];
    },
  });
  const empty = Buffer.from(await e.encrypt(new Uint8Array(0)));
  if (!fileKey) throw new Error("age-encryption did not hand out the file key");
  return { header: empty.subarray(0, headerLength(empty)), fileKey };
}

/** Encrypts a stream into an age file with the given header and file key. */
export function sealStream(header: Buffer, fileKey: Uint8Array): Transform {
  const nonce = randomBytes(16);
  const key = payloadKey(fileKey, nonce);
  let pending: Buffer = Buffer.alloc(0);
  let counter = 0;
  const seal = (chunk: Buffer, last: boolean) => {
    const c = createCipheriv("chacha20-poly1305", key, chunkNonce(counter++, last), { authTagLength: TAG });
    return Buffer.concat([c.update(chunk), c.final(), c.getAuthTag()]);
  };
  let started = false;
  return new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      if (!started) {
        started = true;
        this.push(Buffer.concat([header, nonce]));
      }
      pending = pending.length ? Buffer.concat([pending, data]) : data;
      // Keep at least one byte back: only the flush knows which chunk is the last.
      while (pending.length > CHUNK) {
        this.push(seal(pending.subarray(0, CHUNK), false));
        pending = pending.subarray(CHUNK);
      }
      done();
    },
    flush(done: TransformCallback) {
      if (!started) this.push(Buffer.concat([header, nonce]));
      this.push(seal(pending, true));
      done();
    },
  });
}

/** Decrypts an age file with `identity`; a wrong key or any altered byte makes the stream fail. */
export function openStream(identity: string, onHeaderError: (err: Error) => Error): Transform {
  let pending: Buffer = Buffer.alloc(0);
  let key: Buffer | null = null;
  let counter = 0;
  const open = (chunk: Buffer, last: boolean) => {
    if (chunk.length < TAG || (last && chunk.length === TAG && counter > 0))
      throw new Error("truncated age payload");
    const d = createDecipheriv("chacha20-poly1305", key!, chunkNonce(counter++, last), {
      authTagLength: TAG,
    });
    d.setAuthTag(chunk.subarray(chunk.length - TAG));
    return Buffer.concat([d.update(chunk.subarray(0, chunk.length - TAG)), d.final()]);
  };
  return new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      pending = pending.length ? Buffer.concat([pending, data]) : data;
      const step = async () => {
        if (!key) {
          const h = headerLength(pending);
          if (h < 0 || pending.length < h + 16) {
            if (pending.length > 64 * 1024) throw new Error("not an age file (no header)");
            return;
          }
          const dec = new Decrypter();
          dec.addIdentity(identity);
          let fileKey: Uint8Array;
          try {
            fileKey = await dec.decryptHeader(pending.subarray(0, h));
          } catch (err) {
            throw onHeaderError(err as Error);
          }
          key = payloadKey(fileKey, pending.subarray(h, h + 16));
          pending = pending.subarray(h + 16);
        }
        while (pending.length > CHUNK + TAG) {
          this.push(open(pending.subarray(0, CHUNK + TAG), false));
          pending = pending.subarray(CHUNK + TAG);
        }
      };
      step().then(() => done(), done);
    },
    flush(done: TransformCallback) {
      try {
        if (!key) throw new Error("not an age file (truncated header)");
        this.push(open(pending, true));
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

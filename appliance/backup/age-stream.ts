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
import { Decrypter, Encrypter, type Identity } from "age-encryption";
import { x25519Header, x25519Identity } from "./age-x25519.js";

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

/** An X25519 recipient (`age1…`, 32 bytes): its header is made natively (age-x25519.ts). */
const X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const X25519_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/**
 * A fresh header for `recipient` and its file key: natively for an X25519 recipient (age-x25519.ts), else
 * (another recipient type) through typage. typage makes the header (its X25519 stanza and MAC); the
 * file key is seen by a second Recipient (the package's public interface) that adds no stanza, so the header
 * is exactly the one typage writes for that recipient alone, and no identity is needed (recipient mode).
 */
export async function newHeader(recipient: string): Promise<{ header: Buffer; fileKey: Uint8Array }> {
  if (X25519_RECIPIENT.test(recipient)) return x25519Header(recipient);
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

/**
 * Buffers written pieces without copying them together, and hands out runs of `n` bytes as the pieces (or
 * parts of them) they span.
 */
class PieceQueue {
  private pieces: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length === 0) return;
    this.pieces.push(b);
    this.length += b.length;
  }
  /** The first `n` bytes (n <= length), as pieces. */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    this.length -= n;
    while (n > 0) {
      const p = this.pieces[0]!;
      if (p.length <= n) {
        out.push(p);
        this.pieces.shift();
        n -= p.length;
      } else {
        out.push(p.subarray(0, n));
        this.pieces[0] = p.subarray(n);
        n = 0;
      }
    }
    return out;
  }
}

/**
 * An X25519 identity string as a native Identity (age-x25519.ts), any other kind as it is (typage opens it).
 * A restore or verify makes it once and opens every object with it.
 */
export function nativeIdentity(identity: string | Identity): string | Identity {
  return typeof identity === "string" && X25519_IDENTITY.test(identity) ? x25519Identity(identity) : identity;
}

/** Encrypts a stream into an age file with the given header and file key. */
export function sealStream(header: Buffer, fileKey: Uint8Array): Transform {
  const nonce = randomBytes(16);
  const key = payloadKey(fileKey, nonce);
  const queue = new PieceQueue();
  let counter = 0;
  const seal = (out: Buffer[], n: number, last: boolean) => {
    const c = createCipheriv("chacha20-poly1305", key, chunkNonce(counter++, last), { authTagLength: TAG });
    for (const piece of queue.take(n)) out.push(c.update(piece));
    c.final();
    out.push(c.getAuthTag());
  };
  let started = false;
  const start = (): Buffer[] => {
    if (started) return [];
    started = true;
    return [header, nonce];
  };
  return new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      const out = start();
      queue.push(data);
      // Keep at least one byte back: only the flush knows which chunk is the last.
      while (queue.length > CHUNK) seal(out, CHUNK, false);
      // One buffer per input (a 256 KiB read is 4 chunks): few, large writes downstream.
      done(null, out.length ? Buffer.concat(out) : undefined);
    },
    flush(done: TransformCallback) {
      const out = start();
      seal(out, queue.length, true);
      done(null, Buffer.concat(out));
    },
  });
}

/** Decrypts an age file with `identity`; a wrong key or any altered byte makes the stream fail. */
export function openStream(identity: string | Identity, onHeaderError: (err: Error) => Error): Transform {
  let head: Buffer = Buffer.alloc(0);
  const queue = new PieceQueue();
  let key: Buffer | null = null;
  let counter = 0;
  // A chunk's plaintext is released only once its tag checked out.
  const open = (out: Buffer[], n: number, last: boolean) => {
    if (n < TAG || (last && n === TAG && counter > 0)) throw new Error("truncated age payload");
    const d = createDecipheriv("chacha20-poly1305", key!, chunkNonce(counter++, last), {
      authTagLength: TAG,
    });
    const plain = queue.take(n - TAG).map((p) => d.update(p));
    d.setAuthTag(Buffer.concat(queue.take(TAG)));
    d.final();
    out.push(...plain);
  };
  /** Opens every whole chunk but the last; their plaintext as one buffer (few, large writes downstream). */
  const drain = (): Buffer | undefined => {
    const out: Buffer[] = [];
    while (queue.length > CHUNK + TAG) open(out, CHUNK + TAG, false);
    return out.length ? Buffer.concat(out) : undefined;
  };
  /** Reads the header once enough bytes are there; false while they are not. */
  const readHeader = async (): Promise<boolean> => {
    const h = headerLength(head);
    if (h < 0 || head.length < h + 16) {
      if (head.length > 64 * 1024) throw new Error("not an age file (no header)");
      return false;
    }
    const dec = new Decrypter();
    dec.addIdentity(identity);
    let fileKey: Uint8Array;
    try {
      fileKey = await dec.decryptHeader(head.subarray(0, h));
    } catch (err) {
      throw onHeaderError(err as Error);
    }
    key = payloadKey(fileKey, head.subarray(h, h + 16));
    queue.push(head.subarray(h + 16));
    head = Buffer.alloc(0);
    return true;
  };
  return new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      if (key) {
        try {
          queue.push(data);
          done(null, drain());
        } catch (err) {
          done(err as Error);
        }
        return;
      }
      head = head.length ? Buffer.concat([head, data]) : data;
      readHeader()
        .then((ready) => done(null, ready ? drain() : undefined))
        .catch(done);
    },
    flush(done: TransformCallback) {
      try {
        if (!key) throw new Error("not an age file (truncated header)");
        const out: Buffer[] = [];
        open(out, queue.length, true);
        const last = Buffer.concat(out);
        done(null, last.length ? last : undefined);
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

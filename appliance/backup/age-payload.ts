/**
 * age's payload (STREAM: ChaCha20-Poly1305 over 64 KiB chunks) as plain push/end objects on Node's native
 * cipher, with no stream or age-encryption import: age-stream.ts wraps them in Transforms on the calling
 * thread, crypto-worker.ts runs the same objects in the backup's crypto threads.
 * Format (age-encryption.org/v1): header, 16-byte nonce, then chunks; payload key = HKDF-SHA256(file key,
 * salt = nonce, info "payload"); chunk nonce = 11-byte big-endian counter ‖ 0x01 for the last chunk, else 0.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";

const CHUNK = 64 * 1024;
const TAG = 16;

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6);
  n[11] = last ? 1 : 0;
  return n;
}

/** The payload key of an age file: HKDF-SHA256 of its file key, salted with the 16-byte payload nonce. */
export function payloadKey(fileKey: Uint8Array, nonce: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

/** The header's length in `buf` (through the newline after `--- <mac>`), or -1 when not all there yet. */
export function headerLength(buf: Buffer): number {
  const mac = buf.indexOf("\n--- ");
  if (mac < 0) return -1;
  const end = buf.indexOf("\n", mac + 5);
  return end < 0 ? -1 : end + 1;
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

/** Seals or opens a payload: `push` returns what is ready (one buffer: few, large writes), `end` the rest. */
export interface PayloadCipher {
  push(data: Buffer): Buffer | undefined;
  end(): Buffer | undefined;
}

const joined = (out: Buffer[]) => {
  const b = out.length === 1 ? out[0]! : Buffer.concat(out);
  return b.length ? b : undefined;
};

/** Seals a payload (everything after the header and nonce) with `key` (payloadKey). */
export function payloadSealer(key: Buffer): PayloadCipher {
  const queue = new PieceQueue();
  let counter = 0;
  const seal = (out: Buffer[], n: number, last: boolean) => {
    const c = createCipheriv("chacha20-poly1305", key, chunkNonce(counter++, last), { authTagLength: TAG });
    for (const piece of queue.take(n)) out.push(c.update(piece));
    c.final();
    out.push(c.getAuthTag());
  };
  return {
    push(data) {
      queue.push(data);
      const out: Buffer[] = [];
      // Keep at least one byte back: only the end knows which chunk is the last.
      while (queue.length > CHUNK) seal(out, CHUNK, false);
      return joined(out);
    },
    end() {
      const out: Buffer[] = [];
      seal(out, queue.length, true);
      return joined(out);
    },
  };
}

/** Opens a payload with `key`; throws on a wrong key, an altered byte or a truncation. */
export function payloadOpener(key: Buffer): PayloadCipher {
  const queue = new PieceQueue();
  let counter = 0;
  // A chunk's plaintext is released only once its tag checked out.
  const open = (out: Buffer[], n: number, last: boolean) => {
    if (n < TAG || (last && n === TAG && counter > 0)) throw new Error("truncated age payload");
    const d = createDecipheriv("chacha20-poly1305", key, chunkNonce(counter++, last), {
      authTagLength: TAG,
    });
    const plain = queue.take(n - TAG).map((p) => d.update(p));
    d.setAuthTag(Buffer.concat(queue.take(TAG)));
    d.final();
    out.push(...plain);
  };
  return {
    push(data) {
      queue.push(data);
      const out: Buffer[] = [];
      while (queue.length > CHUNK + TAG) open(out, CHUNK + TAG, false);
      return joined(out);
    },
    end() {
      const out: Buffer[] = [];
      open(out, queue.length, true);
      return joined(out);
    },
  };
}

/**
 * One object's sealing or opening (age-payload.ts) with the hashes verify and restore check: the
 * plaintext's sha256 and size, and the stored bytes' (header included). The same code runs in a crypto
 * thread (crypto-worker.ts) for large objects and on the calling thread for small ones (crypto-pool.ts).
 */
import { createHash } from "node:crypto";
import { payloadOpener, payloadSealer } from "./age-payload.js";

export interface Digest {
  sha256: string;
  size: number;
}

export interface PayloadJobOptions {
  /** Seal (plaintext in, payload out) or open (payload in, plaintext out). */
  seal: boolean;
  /** The payload key (age-payload.ts payloadKey). */
  key: Uint8Array;
  /** Hash the plaintext ("" and its size otherwise). */
  hashPlain: boolean;
  /** The header and nonce: given, the stored bytes are hashed, these first ("" and the size otherwise). */
  storedPrefix?: Uint8Array;
}

export interface PayloadJob {
  /** Takes bytes; returns the output ready so far. Throws on a wrong key or an altered byte (opening). */
  push(data: Buffer): Buffer | undefined;
  /** The last output, and the digests. */
  end(): { out?: Buffer; plain: Digest; stored: Digest };
}

/** Starts a job (see PayloadJobOptions). */
export function payloadJob(opts: PayloadJobOptions): PayloadJob {
  const key = Buffer.from(opts.key.buffer, opts.key.byteOffset, opts.key.byteLength);
  const cipher = opts.seal ? payloadSealer(key) : payloadOpener(key);
  const plain = { hash: opts.hashPlain ? createHash("sha256") : null, size: 0 };
  const stored = { hash: opts.storedPrefix ? createHash("sha256") : null, size: 0 };
  const count = (side: typeof plain, b: Uint8Array) => {
    side.hash?.update(b);
    side.size += b.byteLength;
  };
  if (opts.storedPrefix) count(stored, opts.storedPrefix);
  // Sealing: the input is plaintext and the output stored bytes; opening the other way round.
  const [input, output] = opts.seal ? [plain, stored] : [stored, plain];
  const out = (b: Buffer | undefined) => {
    if (b) count(output, b);
    return b;
  };
  const digest = (side: typeof plain) => ({ sha256: side.hash?.digest("hex") ?? "", size: side.size });
  return {
    push(data) {
      count(input, data);
      return out(cipher.push(data));
    },
    end() {
      const last = out(cipher.end());
      return { out: last, plain: digest(plain), stored: digest(stored) };
    },
  };
}

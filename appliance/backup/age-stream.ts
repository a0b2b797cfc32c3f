/**
 * age files as streams: headers made and opened here (natively for X25519, else by the `age-encryption`
 * package), the payload by age-payload.ts on Node's native cipher, in a crypto thread for objects of a
 * megabyte or more (crypto-pool.ts). typage's own payload code is pure JavaScript (~15 MB/s here); this is
 * the same format, so every object stays a plain age file (`age -d -i key` opens it), and the tests check
 * both directions against typage.
 */
import { randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { Decrypter, Encrypter, type Identity } from "age-encryption";
import { headerLength, payloadKey } from "./age-payload.js";
import { x25519Header, x25519Identity } from "./age-x25519.js";
import type { Digest, PayloadJobOptions } from "./crypto-job.js";
import { type CryptoJob, localCryptoJob, startCryptoJob } from "./crypto-pool.js";

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
 * An X25519 identity string as a native Identity (age-x25519.ts), any other kind as it is (typage opens it).
 * A restore or verify makes it once and opens every object with it.
 */
export function nativeIdentity(identity: string | Identity): string | Identity {
  return typeof identity === "string" && X25519_IDENTITY.test(identity) ? x25519Identity(identity) : identity;
}

/** The sha256 and size of an object's plaintext and of its stored (encrypted) bytes; "" when not asked for. */
export interface AgeDigests {
  plain: Digest;
  stored: Digest;
}

/** A Transform running a crypto job (crypto-pool.ts), with the job's digests once it has ended. */
export type AgeTransform = Transform & { digests(): AgeDigests };

interface AgeStreamOptions {
  /** Hash the plaintext (on by default). */
  hashPlain?: boolean;
  /** Hash the stored bytes, header included. */
  hashStored?: boolean;
  /** Called with the plaintext bytes as they pass. */
  onBytes?: (n: number) => void;
  /**
   * The chunks written are the stream's (a file or socket read's): one that owns its memory is moved to the
   * crypto thread, not copied, and is empty for anyone else afterwards.
   */
  moveChunks?: boolean;
}

/** Bytes sent to the crypto thread per message: few messages (each wakes a thread), bounded memory. */
const BATCH = 1024 * 1024;
/** Batches of one object in a crypto thread at once: reading the next overlaps sealing this one. */
const IN_FLIGHT = 2;

/**
 * A Transform around a crypto job: `begin` sees the input until it can say what job to run (returns null to
 * wait for more), then every byte goes through the job, about a megabyte at a time: in a crypto thread once
 * there is a megabyte, on this thread for an object that ends before that.
 */
function jobTransform(
  begin: (head: Buffer) => Promise<{ job: PayloadJobOptions; rest: Buffer; out?: Buffer } | null>,
  countIn: boolean,
  opts: AgeStreamOptions,
): AgeTransform {
  const { onBytes, moveChunks } = opts;
  let params: PayloadJobOptions | null = null;
  let job: CryptoJob | null = null;
  let head: Buffer = Buffer.alloc(0);
  let batch: Buffer[] = [];
  let batched = 0;
  let digests: AgeDigests | null = null;
  const counted = (bs: Buffer[]) => {
    if (!countIn) for (const b of bs) onBytes?.(b.length);
    return bs;
  };
  const add = (b: Buffer) => {
    if (b.length) batch.push(b);
    batched += b.length;
  };
  // Batches sent and not yet answered, oldest first: the next one is read while the thread seals this one.
  const inFlight: Promise<Buffer[]>[] = [];
  const send = (last: boolean) => {
    job ??= last ? localCryptoJob(params!) : startCryptoJob(params!);
    const bs = batch;
    batch = [];
    batched = 0;
    const answer = bs.length ? job.data(bs, moveChunks) : Promise.resolve([]);
    answer.catch(() => {}); // awaited below, in order
    inFlight.push(answer);
  };
  /** Takes `data`; returns what is ready to pass on. */
  const feed = async (data: Buffer, last: boolean): Promise<Buffer[]> => {
    if (countIn) onBytes?.(data.length);
    const out: Buffer[] = [];
    if (params) add(data);
    else {
      head = head.length ? Buffer.concat([head, data]) : data;
      const b = await begin(head);
      if (!b) return out;
      params = b.job;
      if (b.out) out.push(b.out);
      add(b.rest);
    }
    if (batched >= BATCH || last) send(last);
    // The thread answers in order; wait for the oldest while too many are out (for all at the end).
    while (inFlight.length >= (last ? 1 : IN_FLIGHT)) out.push(...counted(await inFlight.shift()!));
    return out;
  };
  const stream: Transform = new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      feed(data, false).then((out) => {
        for (const b of out) stream.push(b);
        done();
      }, done);
    },
    flush(done: TransformCallback) {
      (async () => {
        const out = await feed(Buffer.alloc(0), true);
        if (!job) throw new Error("not an age file (truncated header)");
        const r = await job.end();
        digests = { plain: r.plain, stored: r.stored };
        return [...out, ...counted(r.out)];
      })().then((out) => {
        for (const b of out) stream.push(b);
        done();
      }, done);
    },
    destroy(err, done) {
      job?.abort();
      done(err);
    },
  });
  return Object.assign(stream, {
    digests() {
      if (!digests) throw new Error("the age stream has not ended");
      return digests;
    },
  });
}

/** Encrypts a stream into an age file with the given header and file key (payload sealed in a crypto thread). */
export function sealStream(header: Buffer, fileKey: Uint8Array, opts: AgeStreamOptions = {}): AgeTransform {
  const nonce = randomBytes(16);
  const prefix = Buffer.concat([header, nonce]);
  return jobTransform(
    async (head) => {
      const job = {
        seal: true,
        key: payloadKey(fileKey, nonce),
        hashPlain: opts.hashPlain ?? true,
        storedPrefix: opts.hashStored ? prefix : undefined,
      };
      return { job, rest: head, out: prefix };
    },
    true,
    opts,
  );
}

/**
 * The payload key of an age file whose start (header and nonce, and maybe more) is in `head`, or null while
 * not all of it is there; `identity` unwraps the file key. Throws `onHeaderError(err)` for a wrong key.
 */
async function openHeader(
  head: Buffer,
  identity: string | Identity,
  onHeaderError: (err: Error) => Error,
): Promise<{ key: Buffer; length: number } | null> {
  const h = headerLength(head);
  if (h < 0 || head.length < h + 16) {
    if (head.length > 64 * 1024) throw new Error("not an age file (no header)");
    return null;
  }
  const dec = new Decrypter();
  dec.addIdentity(identity);
  let fileKey: Uint8Array;
  try {
    fileKey = await dec.decryptHeader(head.subarray(0, h));
  } catch (err) {
    throw onHeaderError(err as Error);
  }
  return { key: payloadKey(fileKey, head.subarray(h, h + 16)), length: h + 16 };
}

/**
 * Decrypts an age file with `identity` (header here, payload in a crypto thread); a wrong key or any altered
 * byte makes the stream fail.
 */
export function openStream(
  identity: string | Identity,
  onHeaderError: (err: Error) => Error,
  opts: AgeStreamOptions = {},
): AgeTransform {
  return jobTransform(
    async (head) => {
      const h = await openHeader(head, identity, onHeaderError);
      if (!h) return null;
      const job = {
        seal: false,
        key: h.key,
        hashPlain: opts.hashPlain ?? true,
        storedPrefix: opts.hashStored ? head.subarray(0, h.length) : undefined,
      };
      return { job, rest: head.subarray(h.length) };
    },
    false,
    opts,
  );
}

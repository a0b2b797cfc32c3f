/**
 * The blob store's interface, its errors and its key checks; the backends (local, S3) and their config are the
 * files service's (services/files/blob-store/), which the hub uses too.
 *
 * The blob store: immutable content addressed by its sha256. Every backend (local filesystem, S3) keeps the same
 * invariants, checked by one contract suite (test/integration/blob-store.contract.ts):
 * - a key is always a sha256 digest (64 lowercase hex), never a path or name from input;
 * - content is verified while it is written; a blob that does not match its key is never stored;
 * - a partial blob is never visible: a blob is either absent or complete.
 */

/** What a store knows about one blob. */
export interface BlobStat {
  sha256: string;
  size: number;
}

/** A local file the store takes over: moved into the store, or copied and then removed. */
export interface FileSource {
  file: string;
}

export interface BlobStore {
  readonly kind: "local" | "s3";
  /** Creates directories / the bucket. Idempotent. */
  init(): Promise<void>;
  stat(sha256: string): Promise<BlobStat | null>;
  /** Stores content whose sha256 must equal `sha256` (and whose size must equal `size` when given); verifies
   *  while writing. From a stream, or adopts a local file (local backend: rename when on the same filesystem,
   *  else copy). A file source is removed whatever the outcome; a stream is read to its end or destroyed.
   *  Content that does not match → throws BlobIntegrityError and nothing is stored. Already present → no-op.
   *  Never leaves a partial blob visible. */
  put(sha256: string, source: NodeJS.ReadableStream | FileSource, size?: number): Promise<BlobStat>;
  /** Streams the blob, or the inclusive byte range [start, end] (0 ≤ start ≤ end < size, else RangeError).
   *  Throws BlobNotFoundError when absent. */
  get(sha256: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream>;
  /** Removes the blob; absent is not an error. */
  delete(sha256: string): Promise<void>;
  /** Every blob (for garbage collection / sync), in no particular order; async iteration, constant memory. */
  list(): AsyncIterable<BlobStat>;
  close(): Promise<void>;
}

/** The blob asked for is not in the store. */
export class BlobNotFoundError extends Error {
  readonly code = "BLOB_NOT_FOUND";
  constructor(readonly sha256: string) {
    super(`blob ${sha256} not found`);
    this.name = "BlobNotFoundError";
  }
}

/** The content given to put() does not hash (or measure) to what its caller claimed; nothing was stored. */
export class BlobIntegrityError extends Error {
  readonly code = "BLOB_INTEGRITY";
  constructor(
    readonly expected: { sha256: string; size?: number },
    readonly actual: BlobStat,
  ) {
    const want = expected.size === undefined ? "" : ` (${expected.size} bytes)`;
    super(
      `content does not match blob ${expected.sha256}${want}: got sha256 ${actual.sha256}, ${actual.size} bytes`,
    );
    this.name = "BlobIntegrityError";
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** True for a sha256 digest as the store spells keys: 64 lowercase hex characters. */
export function isSha256(s: unknown): s is string {
  return typeof s === "string" && SHA256_HEX.test(s);
}

/** Throws a TypeError unless `s` is a valid blob key; keys become file names and object keys. */
export function assertSha256(s: unknown): asserts s is string {
  if (!isSha256(s)) {
    const shown = typeof s === "string" ? JSON.stringify(s.slice(0, 80)) : typeof s;
    throw new TypeError(`blob key must be a sha256 digest (64 lowercase hex characters), got ${shown}`);
  }
}

/** Throws a RangeError unless [start, end] is an inclusive byte range inside a blob of `size` bytes. */
export function assertRange(range: { start: number; end: number }, size: number): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end >= size) {
    throw new RangeError(`byte range ${start}-${end} is not inside a blob of ${size} bytes`);
  }
}

/** Throws a TypeError unless `size` is a valid declared blob size. */
export function assertSize(size: number | undefined): void {
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
    throw new TypeError(`blob size must be a non-negative integer, got ${size}`);
  }
}

/** Tells a file source from a stream. */
export function isFileSource(source: NodeJS.ReadableStream | FileSource): source is FileSource {
  return typeof (source as Partial<FileSource>).file === "string" && !("pipe" in source);
}

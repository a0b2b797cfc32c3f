/**
 * Reading an OpenRosa multipart POST without holding it in memory: the `xml_submission_file` part is kept in
 * memory (capped), every other file part is hashed (sha256, md5) as it arrives and kept in memory only while
 * small (a photo: up to 1 MiB each, 8 MiB for all parts together, so the common case costs no extra file);
 * beyond that it spills to a temporary file beside the blob store, so a 100 MB video attachment costs a few
 * buffers, not 100 MB. The caller stores them (a spilled file is adopted by the blob store with a rename) or
 * removes them with `discard`. Limits are enforced while reading: the
 * body stops at the first part over the total, a bad name or too many parts.
 */
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { dirname, join } from "node:path";
import { Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import { SubmissionError } from "./submission-check.js";
import { FILE_NAME } from "./xform.js";

/** An attachment part: in memory (`data`) when small, else in a temporary file. */
export interface PostedFile {
  name: string;
  type: string;
  size: number;
  sha256: string;
  md5: string;
  /** The content, when it stayed small enough to keep in memory. */
  data?: Buffer;
  /** The temporary file holding it otherwise (adopted by the blob store, or removed). */
  file: string;
}

/** Most bytes of one part, and of all parts of a request, kept in memory before spilling to a file. */
const PART_IN_MEMORY = 1024 ** 2;
const REQUEST_IN_MEMORY = 8 * 1024 ** 2;

/** A sink that keeps what it is given in memory up to `limit()` bytes, then moves it all to `file`. */
class Spill extends Writable {
  chunks: Buffer[] = [];
  held = 0;
  out: WriteStream | null = null;
  constructor(
    private readonly file: string,
    private readonly room: () => number,
    private readonly took: (n: number) => void,
  ) {
    super();
  }
  override _write(c: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    if (!this.out && this.held + c.length <= Math.min(PART_IN_MEMORY, this.room())) {
      this.chunks.push(c);
      this.held += c.length;
      this.took(c.length);
      return cb();
    }
    if (!this.out) {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      this.out = createWriteStream(this.file, { mode: 0o600 });
      this.out.on("error", (err) => this.destroy(err));
      for (const b of this.chunks) this.out.write(b);
      this.took(-this.held);
      this.chunks = [];
    }
    if (this.out.write(c)) cb();
    else this.out.once("drain", () => cb());
  }
  override _final(cb: (err?: Error | null) => void) {
    if (!this.out) return cb();
    this.out.end(() => cb());
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void) {
    this.out?.destroy();
    cb(err);
  }
}

export interface PostedSubmission {
  xml: string;
  files: PostedFile[];
}

export interface MultipartLimits {
  /** Most bytes of all parts together. */
  maxBytes: number;
  /** Most bytes of the submission XML. */
  maxXmlBytes: number;
  /** Most parts. */
  maxParts: number;
}

/** Removes the temporary files of a read that is not stored. */
export async function discard(files: PostedFile[]): Promise<void> {
  await Promise.all(files.filter((f) => !f.data).map((f) => rm(f.file, { force: true })));
}

/** Reads a multipart body from `req` into the XML and temp files under `tmpDir`; 400/413 on bad input. */
export async function readMultipart(
  req: IncomingMessage,
  headers: Record<string, string>,
  tmpDir: string,
  limits: MultipartLimits,
): Promise<PostedSubmission> {
  const files: PostedFile[] = [];
  const writes: Promise<void>[] = [];
  let xml: string | null = null;
  let total = 0;
  let inMemory = 0;
  let failure: SubmissionError | null = null;
  let settle = () => {};
  const open = new Set<NodeJS.ReadableStream & { destroy(err?: Error): void }>();
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers, limits: { parts: limits.maxParts, fieldSize: 64 * 1024, fields: 50 } });
  } catch {
    throw new SubmissionError(400, "unreadable multipart body (no boundary)");
  }
  const fail = (err: SubmissionError) => {
    failure ??= err;
    req.unpipe(bb);
    for (const s of open) s.destroy(err);
    settle();
    req.resume(); // drain what the client still sends, so it reads the answer
  };
  const count = (n: number) => {
    total += n;
    if (total > limits.maxBytes)
      fail(new SubmissionError(413, `submission over ${limits.maxBytes} bytes; send it in parts`));
  };
  bb.on("file", (field, stream, info) => {
    if (failure) return void stream.resume();
    if (field === "xml_submission_file") {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on("data", (c: Buffer) => {
        size += c.length;
        count(c.length);
        if (size > limits.maxXmlBytes) fail(new SubmissionError(413, "the submission XML is too large"));
        else chunks.push(c);
      });
      stream.on("end", () => {
        xml = Buffer.concat(chunks).toString("utf8");
      });
      return;
    }
    const name = info.filename || field;
    if (!FILE_NAME.test(name)) {
      stream.resume();
      return fail(
        new SubmissionError(400, `attachment name "${name.slice(0, 60)}" is not a plain file name`),
      );
    }
    const file = join(tmpDir, `${randomUUID()}.part`);
    const sha = createHash("sha256");
    const md5 = createHash("md5");
    const posted: PostedFile = { name, type: info.mimeType, size: 0, sha256: "", md5: "", file };
    files.push(posted);
    open.add(stream);
    stream.on("close", () => open.delete(stream));
    const measure = new Transform({
      transform(c: Buffer, _enc, done) {
        sha.update(c);
        md5.update(c);
        posted.size += c.length;
        count(c.length);
        done(null, c);
      },
    });
    const sink = new Spill(
      file,
      () => REQUEST_IN_MEMORY - inMemory,
      (n) => {
        inMemory += n;
      },
    );
    writes.push(
      pipeline(stream, measure, sink).then(() => {
        posted.sha256 = sha.digest("hex");
        posted.md5 = md5.digest("hex");
        if (!sink.out) posted.data = Buffer.concat(sink.chunks);
      }),
    );
  });
  bb.on("partsLimit", () => fail(new SubmissionError(413, `more than ${limits.maxParts} parts`)));
  try {
    await new Promise<void>((resolve, reject) => {
      settle = resolve;
      bb.on("close", resolve);
      bb.on("error", reject);
      req.on("error", reject);
      req.on("aborted", () => reject(new Error("aborted")));
      req.pipe(bb);
    });
    await Promise.all(writes);
  } catch (err) {
    await Promise.allSettled(writes);
    await discard(files);
    if (failure) throw failure;
    throw new SubmissionError(400, `unreadable multipart body: ${(err as Error).message.slice(0, 80)}`);
  }
  if (failure) {
    await Promise.allSettled(writes);
    await discard(files);
    throw failure;
  }
  if (xml === null) {
    await discard(files);
    throw new SubmissionError(400, "the xml_submission_file part is missing");
  }
  return { xml, files };
}

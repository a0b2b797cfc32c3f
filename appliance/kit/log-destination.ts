/**
 * Where log lines go: a file descriptor written synchronously, one whole line per write call. A line that
 * cannot be written (the disk is full, EIO, a pipe that would block) is dropped and counted, never thrown and
 * never waited on: a full log disk must not crash or stall a service. A line cut mid-write leaves the file
 * ending mid-line, so the next line that gets written starts on a new line.
 */
import { writeSync } from "node:fs";

export class LogDestination {
  /** Lines not written (or written only in part) since this destination was made. */
  dropped = 0;
  private cut = false;

  constructor(private readonly fd: number) {}

  /** pino calls this with one serialised line, newline included. */
  write(line: string): boolean {
    const buf = Buffer.from(this.cut ? `\n${line}` : line);
    let off = 0;
    try {
      while (off < buf.length) {
        const n = writeSync(this.fd, buf, off);
        if (n <= 0) break;
        off += n;
      }
    } catch {
      // ENOSPC, EDQUOT, EIO, EAGAIN: counted below; logging is never worth a crash or a stall.
    }
    if (off === buf.length) {
      this.cut = false;
      return true;
    }
    this.dropped++;
    if (off > 0) this.cut = true;
    return true;
  }
}

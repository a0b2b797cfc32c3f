/** The supervisor's open log files, one per unit (and nats-server), opened on first use and rotated by size. */
import type { Logger } from "../kit/index.js";
import { closeLog, openLog, rotateIfNeeded } from "./log-files.js";

export interface UnitLogsOptions {
  logFile: (name: string) => string;
  maxBytes: number;
  keep: number;
  log: Logger;
}

/** Log file descriptors by unit name. */
export class UnitLogs {
  private readonly fds = new Map<string, number>();

  constructor(private readonly opts: UnitLogsOptions) {}

  /** The descriptor of `name`'s log, opened on first use. */
  fd(name: string): number {
    let fd = this.fds.get(name);
    if (fd === undefined) {
      fd = openLog(this.opts.logFile(name));
      this.fds.set(name, fd);
    }
    return fd;
  }

  /** Rotates the logs over their size limit. */
  rotate(): void {
    for (const name of this.fds.keys()) {
      try {
        rotateIfNeeded(this.opts.logFile(name), this.opts.maxBytes, this.opts.keep);
      } catch (err) {
        // Called from a timer: a failed rotation (a disk error) must not take the supervisor, and the box, down.
        this.opts.log.warn({ err, log: name }, "log rotation failed");
      }
    }
  }

  /** Closes every log. */
  closeAll(): void {
    for (const fd of this.fds.values()) closeLog(fd);
    this.fds.clear();
  }
}

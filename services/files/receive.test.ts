/**
 * receive() on a real, tiny tmpfs (as root): a body bigger than the disk is the 507 disk-full answer, never a
 * raw ENOSPC or a short write taken for success, and the guard refuses a batch before it is written.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "../../appliance/kit/index.js";
import { receive } from "./receive.js";

const MiB = 1024 * 1024;
let dir = "";

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("this test mounts a tmpfs and must run as root (CI does)");
  dir = mkdtempSync(join(os.tmpdir(), "nexus-receive-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir]);
});

afterAll(() => {
  if (!dir) return;
  execFileSync("umount", ["-l", dir]);
  rmSync(dir, { recursive: true, force: true });
});

/** `total` bytes in 64 KiB chunks (not a multiple of the 1 MiB batch, so a write can end mid-buffer). */
const body = (total: number) =>
  Readable.from(
    (function* () {
      for (let sent = 0; sent < total; sent += 64 * 1024)
        yield Buffer.alloc(Math.min(64 * 1024, total - sent), 7);
    })(),
  );

const tooMuch = () => new Error("too much");
afterEach(() => {
  for (const name of ["big", "guarded", "fits"]) rmSync(join(dir, name), { force: true });
});

describe("receive on a full disk", () => {
  it("answers 507 disk-full when the disk runs out mid-write", async () => {
    const file = join(dir, "big");
    const err = await receive(body(5 * MiB), file, { offset: 0, max: 8 * MiB, tooMuch }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect({ status: err.status, reason: err.data?.reason }).toEqual({ status: 507, reason: "disk-full" });
  });

  it("lets the guard refuse a batch before it is written", async () => {
    const file = join(dir, "guarded");
    const guard = (bytes: number) => {
      if (statSync(file).size + bytes > MiB) throw new ApiError(507, "full", { reason: "disk-full" });
    };
    const err = await receive(body(3 * MiB), file, { offset: 0, max: 8 * MiB, tooMuch, guard }).catch(
      (e) => e,
    );
    expect(err.status).toBe(507);
    expect(statSync(file).size).toBeLessThanOrEqual(MiB);
  });

  it("stores every byte it reports, hashed, when the body fits", async () => {
    const file = join(dir, "fits");
    const hash = createHash("sha256");
    const r = await receive(body(MiB + 12345), file, { offset: 0, max: 8 * MiB, tooMuch, hash });
    expect(r).toEqual({ written: MiB + 12345, complete: true });
    expect(statSync(file).size).toBe(MiB + 12345);
  });
});

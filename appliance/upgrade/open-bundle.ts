/** Opens a bundle given as a .tar.gz (unpacked beside the installed versions) or as an unpacked folder. */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Layout } from "./layout.js";
import { MANIFEST } from "./manifest.js";

/**
 * The bundle's folder and a cleanup; a tarball is unpacked into /opt/nexus/.incoming (same filesystem), a
 * folder the upgrader owns (`owned`: it may be moved into place instead of copied).
 */
export function openBundle(path: string, l: Layout): { dir: string; cleanup: () => void; owned: boolean } {
  const p = resolve(path);
  if (!existsSync(p)) throw new Error(`no bundle at ${p}`);
  if (statSync(p).isDirectory()) return { dir: p, cleanup: () => {}, owned: false };
  mkdirSync(join(l.opt, ".incoming"), { recursive: true });
  const tmp = mkdtempSync(join(l.opt, ".incoming", "b-"));
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  try {
    // GNU tar drops leading "/" and refuses members with "..": nothing lands outside tmp.
    execFileSync("tar", ["-xzf", p, "-C", tmp, "--no-same-owner"], { stdio: ["ignore", "ignore", "pipe"] });
    const tops = readdirSync(tmp);
    const top = tops.length === 1 ? join(tmp, tops[0] as string) : tmp;
    if (!existsSync(join(top, MANIFEST))) throw new Error("not a nexus bundle (no manifest)");
    return { dir: top, cleanup, owned: top !== tmp };
  } catch (err) {
    cleanup();
    throw err;
  }
}

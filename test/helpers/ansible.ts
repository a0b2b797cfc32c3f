/**
 * Running the Ansible collection in ansible/ as `nexus.edge`: a temp collections path with a link to it, so
 * playbooks and ansible-lint resolve `nexus.edge.<role>` without installing anything.
 */
import { execFile } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, tempDir } from "./appliance.js";

export const COLLECTION = join(ROOT, "ansible");
const run = promisify(execFile);

/** A collections path holding ansible_collections/nexus/edge → ansible/. */
export function collectionsPath(): string {
  const dir = tempDir("nexus-ansible-collections-");
  mkdirSync(join(dir, "ansible_collections", "nexus"), { recursive: true });
  symlinkSync(COLLECTION, join(dir, "ansible_collections", "nexus", "edge"));
  return dir;
}

/** Runs an Ansible tool in the collection's folder; resolves with its output whatever its exit code. */
export async function ansibleTool(
  tool: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tool, args, {
      cwd: COLLECTION,
      env: { ...process.env, ANSIBLE_NOCOLOR: "1", NO_COLOR: "1", ANSIBLE_FORCE_COLOR: "0", ...env },
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; killed?: boolean };
    if (e.killed) throw new Error(`${tool} ran past ${timeoutMs} ms`);
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/**
 * Calls to a hub with a box's site credentials (HTTP Basic) and downloads checked against what was offered:
 * the bundle offers (appliance/upgrade/from-hub.ts) and the model pack offers (services/ai/hub-packs.ts) use
 * both. Generic: a base URL, a user and a password, nothing of the appliance.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface BasicLink {
  hubUrl: string;
  user: string;
  password: string;
}

/** `path` on the link's hub with its credentials; throws with the hub's message on a non-2xx answer. */
export async function linkFetch(
  link: BasicLink,
  path: string,
  init: RequestInit = {},
  timeoutMs = 30_000,
): Promise<Response> {
  const auth = `Basic ${Buffer.from(`${link.user}:${link.password}`).toString("base64")}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, link.hubUrl), {
      ...init,
      headers: { authorization: auth, ...(init.body ? { "content-type": "application/json" } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new Error(`cannot reach the hub at ${link.hubUrl}: ${(err as Error).message}`);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { message?: string } | null;
    throw new Error(`the hub answered ${res.status}: ${body?.message ?? res.statusText}`);
  }
  return res;
}

/**
 * Writes a response's body to `file`, cut as soon as it passes `expected.size`; throws (and leaves no file)
 * when its size or sha256 differ from `expected`. `what` names it in the errors ("bundle", "pack").
 */
export async function downloadVerified(
  res: Response,
  file: string,
  expected: { size: number; sha256: string },
  what: string,
  onBytes?: (n: number) => void,
): Promise<void> {
  if (!res.body) throw new Error(`the hub sent no ${what}`);
  const hash = createHash("sha256");
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > expected.size)
        return done(new Error(`the hub sent more than the offered ${expected.size} bytes`));
      hash.update(chunk);
      onBytes?.(size);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as never), count, createWriteStream(file, { mode: 0o600 }));
    const sha = hash.digest("hex");
    if (size !== expected.size || sha !== expected.sha256)
      throw new Error(`the downloaded ${what} does not match the offer (${size} bytes, sha256 ${sha})`);
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
}

/**
 * Every new file version is a change record (collection `versions`) and its content is queued for the hub's
 * blob store, in the version's own transaction; before enrolment too, so what a box stored offline goes to
 * the hub once it is enrolled. On an enrolled box a mover sends queued blobs when the link is up: it asks the
 * hub what it has (by sha256), skips those, resumes partial uploads from the hub's offset, and keeps to the
 * configured bandwidth. Nothing is removed from the box; content the box removed (purged) before it was sent
 * leaves the queue.
 */
import http from "node:http";
import https from "node:https";
import { resolve } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type HubLink, readHubLink } from "../../appliance/sync/hub-link.js";
import type { Ctx, Files } from "./state.js";
import { onNewVersion } from "./versions.js";

/** The box's hub credentials, or null before enrolment (ctx.dataDir is `<data>/services/files`). */
export const hubLinkOf = (ctx: Ctx): HubLink | null => readHubLink(resolve(ctx.dataDir, "..", ".."));

/** From now on, new versions are recorded for the hub and their content queued. */
export function recordVersionsForHub(ctx: Ctx): void {
  onNewVersion(ctx, (e) => {
    ctx.sync.record({ collection: "versions", key: `${e.nodeId}:${e.version}`, op: "upsert", data: e });
    ctx.db
      .prepare("INSERT OR IGNORE INTO blob_sync (sha256, size, queued_at) VALUES (?, ?, ?)")
      .run(e.sha256, e.size, new Date().toISOString());
  });
}

/** Passes bytes on at most `bytesPerSecond` (0: no limit). */
export function throttle(bytesPerSecond: number): Transform {
  const start = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      const wait = bytesPerSecond > 0 ? start + (sent / bytesPerSecond) * 1000 - Date.now() : 0;
      if (wait > 0) setTimeout(() => done(null, chunk), wait);
      else done(null, chunk);
    },
  });
}

/** One call to the hub's blob API (`/api/hub/blobs/<sha>`) with the site's credentials. */
export function request(
  link: HubLink,
  method: string,
  sha: string,
  headers: Record<string, string | number>,
  body?: NodeJS.ReadableStream,
) {
  const url = new URL(`/api/hub/blobs/${sha}`, link.hubUrl);
  const auth = Buffer.from(`${link.user}:${link.password}`).toString("base64");
  return new Promise<{ status: number; offset: number }>((resolveRes, reject) => {
    const req = (url.protocol === "https:" ? https : http).request(url, {
      method,
      headers: { authorization: `Basic ${auth}`, ...headers },
      timeout: 30_000,
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () =>
        resolveRes({ status: res.statusCode ?? 0, offset: Number(res.headers["upload-offset"] ?? 0) }),
      );
    });
    req.on("timeout", () => req.destroy(new Error("hub did not answer in time")));
    req.on("error", reject);
    if (body) pipeline(body, req).catch(reject);
    else req.end();
  });
}

interface Pending {
  sha256: string;
  size: number;
}

/** Sends what the hub lacks, oldest first; stops at the first failure (the link is down). Returns blobs sent. */
export async function pushBlobs(ctx: Ctx, f: Files, link: HubLink): Promise<number> {
  const rows = ctx.db
    .prepare("SELECT sha256, size FROM blob_sync WHERE sent_at IS NULL ORDER BY queued_at LIMIT 50")
    .all() as Pending[];
  const done = ctx.db.prepare("UPDATE blob_sync SET sent_at = ?, last_error = NULL WHERE sha256 = ?");
  const failed = ctx.db.prepare(
    "UPDATE blob_sync SET attempts = attempts + 1, last_error = ? WHERE sha256 = ?",
  );
  // Only content no version references any more: a re-upload of the same bytes while the mover looked
  // keeps its row (and content referenced but missing from the store is an error, never dropped).
  const drop = ctx.db.prepare(
    `DELETE FROM blob_sync WHERE sha256 = ? AND sent_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM versions WHERE sha256 = blob_sync.sha256)`,
  );
  let sent = 0;
  for (const row of rows) {
    try {
      // Purged (and collected) before it could be sent: nothing to send, and it must not block the queue.
      if (!(await f.store.stat(row.sha256))) {
        if (drop.run(row.sha256).changes === 0) {
          // Referenced yet missing (a damaged store): an error for the operator, but not a reason to stop
          // sending everything queued after it.
          failed.run("content a version references is missing from the blob store", row.sha256);
          ctx.log.error(
            { sha256: row.sha256 },
            "content a file version references is missing from the blob store",
          );
          continue;
        }
        ctx.log.info(
          { sha256: row.sha256 },
          "blob removed before it was sent to the hub: dropped from the queue",
        );
        continue;
      }
      const have = await request(link, "HEAD", row.sha256, {});
      if (have.status === 200) {
        done.run(new Date().toISOString(), row.sha256);
        continue;
      }
      if (have.status !== 404) throw new Error(`hub answered ${have.status}`);
      const offset = have.offset;
      const body =
        row.size > offset ? await f.store.get(row.sha256, { start: offset, end: row.size - 1 }) : undefined;
      const headers = {
        "x-blob-size": row.size,
        "upload-offset": offset,
        "content-length": row.size - offset,
      };
      const put = await request(
        link,
        "PUT",
        row.sha256,
        headers,
        body ? body.pipe(throttle(f.config.hubBlobBytesPerSecond)) : undefined,
      );
      if (put.status !== 201 && put.status !== 200) throw new Error(`hub answered ${put.status}`);
      if (put.status === 201 || put.offset >= row.size) {
        done.run(new Date().toISOString(), row.sha256);
        sent++;
      }
    } catch (err) {
      failed.run((err as Error).message.slice(0, 200), row.sha256);
      return sent;
    }
  }
  return sent;
}

/** Runs the mover every few seconds while the service runs (timer unref'd). */
export function startBlobMover(ctx: Ctx, f: Files, link: HubLink): void {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      await pushBlobs(ctx, f, link);
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, "blob sync failed");
    } finally {
      busy = false;
    }
  };
  setInterval(() => void tick(), 3000).unref();
  void tick();
}

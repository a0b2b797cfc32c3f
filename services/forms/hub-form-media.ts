/**
 * Fetching hub-managed forms' attachments: each version waiting in `form_hub_pending` has the blobs it lacks
 * fetched from the hub (`GET /api/hub/blobs/<sha256>/content`, site credentials; the blob store verifies the
 * sha256 while writing), then, in one transaction, its attachments are recorded and it is put in the state the
 * hub gave (published). A failure is kept on the row and tried again on the next round.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { pipeline } from "node:stream/promises";
import type { HubLink } from "../../appliance/sync/hub-link.js";
import { getVersion, publishVersion } from "./forms.js";
import type { HubAttachment } from "./hub-forms.js";
import { type Ctx, type FormsRuntime, now } from "./state.js";

interface PendingRow {
  form_id: string;
  version: string;
  state: string;
  attachments: string;
}

/** The content of a blob the hub holds, as a stream (rejects on any status but 200). */
function hubBlob(link: HubLink, sha: string): Promise<http.IncomingMessage> {
  const url = new URL(`/api/hub/blobs/${sha}/content`, link.hubUrl);
  const auth = Buffer.from(`${link.user}:${link.password}`).toString("base64");
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? https : http).get(url, {
      headers: { authorization: `Basic ${auth}` },
      timeout: 30_000,
    });
    req.on("response", (res) => {
      if (res.statusCode === 200) return resolve(res);
      res.resume();
      reject(new Error(`hub answered ${res.statusCode} for blob ${sha.slice(0, 12)}`));
    });
    req.on("timeout", () => req.destroy(new Error("hub did not answer in time")));
    req.on("error", reject);
  });
}

/** Fetches what waiting versions lack and publishes those complete; returns how many were completed. */
export async function fetchHubFormMedia(ctx: Ctx, f: FormsRuntime, link: HubLink): Promise<number> {
  const rows = ctx.db
    .prepare("SELECT * FROM form_hub_pending ORDER BY form_id, version")
    .all() as PendingRow[];
  let done = 0;
  for (const row of rows) {
    const files = JSON.parse(row.attachments) as HubAttachment[];
    try {
      const md5s = new Map<string, string>();
      for (const a of files) {
        if (!(await f.store.stat(a.sha256)))
          await f.store.put(a.sha256, await hubBlob(link, a.sha256), a.size);
        // OpenRosa manifests name attachments by md5; computed from the stored (verified) content.
        const hash = createHash("md5");
        await pipeline(await f.store.get(a.sha256), hash);
        md5s.set(a.sha256, hash.digest("hex"));
      }
      ctx.tx(() => complete(ctx, row, files, md5s));
      done++;
    } catch (err) {
      ctx.db
        .prepare(
          "UPDATE form_hub_pending SET attempts = attempts + 1, last_error = ? WHERE form_id = ? AND version = ?",
        )
        .run((err as Error).message.slice(0, 200), row.form_id, row.version);
    }
  }
  return done;
}

function complete(ctx: Ctx, row: PendingRow, files: HubAttachment[], md5s: Map<string, string>) {
  const v = getVersion(ctx, row.form_id, row.version);
  if (v?.state === "draft") {
    const put = ctx.db.prepare(
      `INSERT INTO form_attachments (form_id, version, name, sha256, md5, size, content_type, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (form_id, version, name) DO UPDATE SET sha256 = excluded.sha256, md5 = excluded.md5,
         size = excluded.size, content_type = excluded.content_type, created_at = excluded.created_at`,
    );
    for (const a of files)
      put.run(row.form_id, row.version, a.name, a.sha256, md5s.get(a.sha256)!, a.size, a.contentType, now());
    if (row.state === "published") publishVersion(ctx, row.form_id, row.version);
  }
  ctx.db
    .prepare("DELETE FROM form_hub_pending WHERE form_id = ? AND version = ?")
    .run(row.form_id, row.version);
}

/** Runs the fetcher every few seconds while the service runs (timer unref'd). */
export function startHubFormMedia(ctx: Ctx, f: FormsRuntime, link: HubLink): void {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    await fetchHubFormMedia(ctx, f, link)
      .catch((err) => ctx.log.warn({ err: (err as Error).message }, "hub form media fetch failed"))
      .finally(() => {
        busy = false;
      });
  };
  setInterval(() => void tick(), 3000).unref();
  void tick();
}

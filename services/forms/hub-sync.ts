/**
 * Submissions box → hub: each complete submission (and each later review or edit) is a change record in the
 * append-only collection `form_submissions`, written in the submission's own transaction, and its attachments
 * are queued for the hub's blob store (before enrolment too: records and blobs go once the box is enrolled).
 * The mover sends queued blobs with the files service's hub blob calls (HEAD to skip what the hub has,
 * resumable PUT from the hub's offset).
 */
import { resolve } from "node:path";
import { type HubLink, readHubLink } from "../../appliance/sync/hub-link.js";
import { request, throttle } from "../files/hub-sync.js";
import type { Ctx, FormsRuntime } from "./state.js";
import type { SubmissionRow } from "./submission-row.js";

export const SUBMISSIONS_COLLECTION = "form_submissions";

/** The box's hub credentials, or null before enrolment (ctx.dataDir is `<data>/services/forms`). */
export const hubLinkOf = (ctx: Ctx): HubLink | null => readHubLink(resolve(ctx.dataDir, "..", ".."));

/** Records a submission for the hub and queues its attachments; call inside the submission's transaction. */
export function recordSubmission(
  ctx: Ctx,
  row: SubmissionRow,
  attachments: { name: string; sha256: string; size: number; content_type: string }[],
): void {
  ctx.sync.record({
    collection: SUBMISSIONS_COLLECTION,
    key: `${row.form_id}:${row.instance_id}`,
    op: "upsert",
    data: {
      id: row.id,
      formId: row.form_id,
      version: row.version,
      instanceId: row.instance_id,
      currentInstanceId: row.current_instance_id,
      instanceName: row.instance_name,
      xml: row.xml,
      fields: JSON.parse(row.fields) as unknown,
      submitter: row.submitter,
      receivedAt: row.received_at,
      reviewState: row.review_state,
      reviewComment: row.review_comment,
      revision: row.revision,
      attachments: attachments.map((a) => ({
        name: a.name,
        sha256: a.sha256,
        size: a.size,
        contentType: a.content_type,
      })),
    },
  });
  const queue = ctx.db.prepare("INSERT OR IGNORE INTO blob_sync (sha256, size, queued_at) VALUES (?, ?, ?)");
  for (const a of attachments) queue.run(a.sha256, a.size, new Date().toISOString());
}

/** Sends queued attachments the hub lacks, oldest first; stops at the first failure (link down). */
export async function pushAttachments(ctx: Ctx, f: FormsRuntime, link: HubLink): Promise<number> {
  const rows = ctx.db
    .prepare("SELECT sha256, size FROM blob_sync WHERE sent_at IS NULL ORDER BY queued_at LIMIT 50")
    .all() as { sha256: string; size: number }[];
  const done = ctx.db.prepare("UPDATE blob_sync SET sent_at = ?, last_error = NULL WHERE sha256 = ?");
  let sent = 0;
  for (const row of rows) {
    try {
      const have = await request(link, "HEAD", row.sha256, {});
      if (have.status !== 200) {
        if (have.status !== 404) throw new Error(`hub answered ${have.status}`);
        const body =
          row.size > have.offset
            ? await f.store.get(row.sha256, { start: have.offset, end: row.size - 1 })
            : undefined;
        const headers = {
          "x-blob-size": row.size,
          "upload-offset": have.offset,
          "content-length": row.size - have.offset,
        };
        const put = await request(link, "PUT", row.sha256, headers, body?.pipe(throttle(0)));
        if (put.status !== 201 && put.status !== 200) throw new Error(`hub answered ${put.status}`);
        sent++;
      }
      done.run(new Date().toISOString(), row.sha256);
    } catch (err) {
      ctx.db
        .prepare("UPDATE blob_sync SET attempts = attempts + 1, last_error = ? WHERE sha256 = ?")
        .run((err as Error).message.slice(0, 200), row.sha256);
      return sent;
    }
  }
  return sent;
}

/** Runs the mover every few seconds while the service runs (timer unref'd). */
export function startAttachmentMover(ctx: Ctx, f: FormsRuntime, link: HubLink): void {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    await pushAttachments(ctx, f, link)
      .catch((err) => ctx.log.warn({ err: (err as Error).message }, "attachment sync failed"))
      .finally(() => {
        busy = false;
      });
  };
  setInterval(() => void tick(), 3000).unref();
  void tick();
}

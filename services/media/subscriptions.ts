/**
 * What media hears: a forms submission complete with its attachments (media ones queued, forms-sources.ts);
 * from files, a new file or version (recorded as a source; media ones queued at bulk
 * priority), a file purged (`deleted` with `purged`) or old versions pruned (`version-purged`): their
 * outputs go.
 */
import type { CloudEvent, Subscription } from "../../appliance/kit/index.js";
import type { VersionEvent } from "../files/versions.js";
import { onSubmitted } from "./forms-sources.js";
import { type Ctx, enqueue, PRIORITY, recordSource } from "./jobs.js";
import { purgeSource } from "./outputs.js";
import { mediaOf } from "./state.js";
import type { MediaWorker } from "./worker.js";

/** Content types worth a job without asking (octet-stream: a client that did not say; probe decides). */
const MEDIA_TYPE = /^(video|audio|image)\/|^application\/octet-stream$/;

export function mediaSubscriptions(ctx: Ctx, worker: () => MediaWorker): Subscription[] {
  const onVersion = (e: CloudEvent) => {
    const d = e.data as VersionEvent;
    if (!d?.nodeId || !d.sha256) return;
    const src = {
      node_id: d.nodeId,
      version: d.version,
      sha256: d.sha256,
      space: d.space,
      path: d.path,
      content_type: d.contentType,
      size: d.size,
    };
    recordSource(ctx, src);
    if (ctx.config.autoProcess && MEDIA_TYPE.test(d.contentType) && d.size > 0) {
      enqueue(ctx, src, PRIORITY.bulk, d.by);
      worker().wake();
    }
  };
  return [
    { name: "uploads", subject: "nexus.files.uploaded", handler: onVersion },
    { name: "versions", subject: "nexus.files.versioned", handler: onVersion },
    {
      name: "form-submissions",
      subject: "nexus.forms.submitted",
      handler: (e) => {
        onSubmitted(ctx, e, () => worker().wake());
      },
    },
    {
      name: "purges",
      subject: "nexus.files.deleted",
      handler: async (e) => {
        const d = e.data as { nodeId?: string; purged?: boolean };
        if (d?.purged && d.nodeId) await dropOutputs(ctx, worker(), d.nodeId, null);
      },
    },
    {
      name: "pruned",
      subject: "nexus.files.version-purged",
      handler: async (e) => {
        const d = e.data as { nodeId?: string; versions?: number[] };
        if (d?.nodeId && Array.isArray(d.versions)) await dropOutputs(ctx, worker(), d.nodeId, d.versions);
      },
    },
  ];
}

async function dropOutputs(ctx: Ctx, worker: MediaWorker, nodeId: string, versions: number[] | null) {
  const running = ctx.db
    .prepare("SELECT id, version FROM jobs WHERE node_id = ? AND state = 'running'")
    .all(nodeId) as { id: string; version: number }[];
  for (const j of running) if (!versions || versions.includes(j.version)) worker.cancel(j.id);
  await purgeSource(ctx, mediaOf(ctx), nodeId, versions);
}

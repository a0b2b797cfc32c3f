/** A box for media's integration tests (identity, files, media and more; an admin, alice and bob) and calls. */
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { startTestAppliance, type TestAppliance, waitFor } from "./appliance.js";
import { enc, filesCall } from "./files.js";
import { addPerson, type Person, setupAdmin } from "./people.js";

// biome-ignore lint/suspicious/noExplicitAny: responses are checked field by field
export type Body = any;

export interface MediaBox {
  app: TestAppliance;
  admin: Person;
  alice: Person;
  bob: Person;
}

/** Starts `services` (identity and files included) with `env`; alice and bob are field agents. */
export async function startMediaBox(services: string[], env: Record<string, string>): Promise<MediaBox> {
  const app = await startTestAppliance({
    services,
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000", NEXUS_MEDIA_PRESET: "ultrafast", ...env },
  });
  const admin = await setupAdmin(app);
  const alice = await addPerson(app, admin, "alice", ["field-agent"]);
  const bob = await addPerson(app, admin, "bob", ["field-agent"]);
  return { app, admin, alice, bob };
}

/** A JSON call as `p` (none: anonymous); the body parsed when it is JSON. */
export async function apiCall(
  app: TestAppliance,
  p: Person | null,
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      ...(p ? { authorization: `Bearer ${p.token}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: body !== undefined ? (typeof body === "string" ? body : JSON.stringify(body)) : undefined,
  });
  const text = await res.text();
  let parsed: Body = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** Uploads `file` as `name` into `p`'s own space; returns the node id. */
export async function uploadAs(app: TestAppliance, p: Person, name: string, file: string, type: string) {
  const r = await filesCall(app, p.token, "PUT", `/spaces/me/content/${enc(name)}`, {
    body: readFileSync(file),
    headers: { "content-type": type },
  });
  expect(r.status, r.text).toBe(201);
  return r.body.file.id as string;
}

/** Waits for the (newest) job of `nodeId` to end, as `p` sees it; returns its detail. */
export async function settledJob(
  app: TestAppliance,
  p: Person,
  nodeId: string,
  timeoutMs = 60_000,
): Promise<Body> {
  const id = await waitFor(
    async () =>
      (await apiCall(app, p, "GET", `/api/media/jobs?nodeId=${encodeURIComponent(nodeId)}`)).body.jobs?.[0]
        ?.id as string | undefined,
    timeoutMs,
    `a job for ${nodeId}`,
  );
  return waitFor(
    async () => {
      const d = await apiCall(app, p, "GET", `/api/media/jobs/${id}`);
      return ["done", "failed", "cancelled"].includes(d.body.job.state) ? d.body : null;
    },
    timeoutMs,
    "the job to end",
  );
}

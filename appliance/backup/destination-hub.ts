/**
 * Backups to the hub an enrolled box belongs to, over its authenticated link (the site credentials
 * `nexus enroll` stored, HTTP Basic, as the files service's blob uploads use): the hub stores each object in
 * its blob store under the site's own key space and keeps the last N complete backups per site
 * (appliance/hub/backup-routes.ts). Uploads pass through one token bucket per destination, so a backup never
 * takes more of the link than `bytesPerSecond`, however many parts are in flight.
 */
import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { tokenBucket } from "../lib/token-bucket.js";
import { type HubLink, readHubLink } from "../sync/hub-link.js";
import { type BackupDestination, BackupDestinationFullError, BackupPartMissingError } from "./types.js";

const BASE = "/api/hub/backups/objects";

export interface HubDestinationOptions {
  /** Upload rate in bytes/s; 0: unlimited. */
  bytesPerSecond: number;
  /** No answer (nor a byte of one) for this long fails the call. */
  timeoutMs?: number;
}

/** The hub as a destination, for the box whose data dir holds the hub link; throws when not enrolled. */
export function hubDestinationFor(dataDir: string, opts: HubDestinationOptions): BackupDestination {
  const link = readHubLink(dataDir);
  if (!link) throw new Error("backup destination 'hub': this box is not enrolled with a hub (nexus enroll)");
  return hubDestination(link, opts);
}

/** The hub as a destination over `link`. */
export function hubDestination(
  link: Pick<HubLink, "hubUrl" | "user" | "password" | "site">,
  opts: HubDestinationOptions,
): BackupDestination {
  const bucket = tokenBucket(opts.bytesPerSecond, {
    burstBytes: Math.max(64 * 1024, opts.bytesPerSecond / 8),
  });
  const auth = `Basic ${Buffer.from(`${link.user}:${link.password}`).toString("base64")}`;
  const description = `hub ${new URL(link.hubUrl).host} (site ${link.site})`;
  const timeout = opts.timeoutMs ?? 60_000;

  /** One request; resolves with the response once its headers arrived. */
  const call = (method: string, path: string, body?: Readable | Buffer) =>
    new Promise<http.IncomingMessage>((resolve, reject) => {
      const url = new URL(path, link.hubUrl);
      const req = (url.protocol === "https:" ? https : http).request(url, {
        method,
        headers: { authorization: auth, ...(body ? { "content-type": "application/octet-stream" } : {}) },
        timeout,
      });
      req.on("response", resolve);
      req.on("timeout", () => req.destroy(new Error(`the hub did not answer within ${timeout} ms`)));
      req.on("error", reject);
      if (!body) req.end();
      else {
        const source = Buffer.isBuffer(body) ? [body] : body;
        pipeline(source as never, bucket.stream(), req).catch((err) => {
          req.destroy(err);
          reject(err);
        });
      }
    });
  /** Reads an answer's body as text (short: JSON or an error). */
  const text = async (res: http.IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  };
  const refused = async (res: http.IncomingMessage, what: string) => {
    const body = await text(res);
    if (res.statusCode === 507) return new BackupDestinationFullError(description);
    let message = body.slice(0, 300);
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // not JSON: the text as it came
    }
    return new Error(`hub backup ${what}: ${res.statusCode} ${message}`);
  };
  const keyPath = (key: string) => `${BASE}/${key.split("/").map(encodeURIComponent).join("/")}`;

  return {
    kind: "hub",
    description,
    async put(key, body) {
      const res = await call("PUT", keyPath(key), body);
      if (res.statusCode !== 201) throw await refused(res, `put ${key}`);
      res.resume();
    },
    async get(key) {
      const res = await call("GET", keyPath(key));
      if (res.statusCode === 404) {
        res.resume();
        throw new BackupPartMissingError(key);
      }
      if (res.statusCode !== 200) throw await refused(res, `get ${key}`);
      return res;
    },
    async has(key) {
      const res = await call("HEAD", keyPath(key));
      res.resume();
      if (res.statusCode === 200) return true;
      if (res.statusCode === 404) return false;
      throw await refused(res, `has ${key}`);
    },
    async list(prefix) {
      const res = await call("GET", `${BASE}?prefix=${encodeURIComponent(prefix)}`);
      if (res.statusCode !== 200) throw await refused(res, "list");
      return (JSON.parse(await text(res)) as { keys: string[] }).keys;
    },
    async remove(key) {
      const res = await call("DELETE", keyPath(key));
      res.resume();
      if (res.statusCode !== 204) throw await refused(res, `remove ${key}`);
    },
  };
}

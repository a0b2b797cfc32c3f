/** Calls to the files API through a test appliance's gateway. */
import { createHash } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { TestAppliance } from "./appliance.js";

export const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

export interface Res {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
  body: any;
  text: string;
  headers: Headers;
}

/** One request as `token`; a string/Buffer body is sent raw, anything else as JSON. */
export async function filesCall(
  app: TestAppliance,
  token: string | null,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Res> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let body: string | Buffer | undefined;
  if (typeof opts.body === "string" || Buffer.isBuffer(opts.body)) body = opts.body;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  Object.assign(headers, opts.headers);
  const res = await fetch(`${app.url}/api/files${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: a download
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** Percent-encodes each segment of a path. */
export const enc = (path: string) => path.split("/").map(encodeURIComponent).join("/");

const MiB = 1024 * 1024;

/** `total` bytes of varied content, 1 MiB at a time, hashed as they are read (sha() once it ended). */
export function generatedContent(total: number): { stream: Readable; sha: () => string } {
  const hash = createHash("sha256");
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const chunk = Buffer.from(block.subarray(0, Math.min(MiB, total - sent)));
      chunk.writeUInt32LE(Math.floor(sent / MiB), 0);
      hash.update(chunk);
      sent += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, sha: () => hash.digest("hex") };
}

/** PUTs a stream of `length` bytes to `url`; resolves with the status and the response text. */
export function putStream(url: string, token: string, source: Readable, length: number) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(url, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-length": length },
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    pipeline(source, req).catch(reject);
  });
}

/** GETs `url`, counting (and unless `hash` is false, hashing) the body without keeping it. */
export function getStream(url: string, token: string, opts: { hash?: boolean } = {}) {
  return new Promise<{ status: number; size: number; sha: string }>((resolve, reject) => {
    http
      .get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
        const hash = createHash("sha256");
        let size = 0;
        res.on("data", (d: Buffer) => {
          size += d.length;
          if (opts.hash !== false) hash.update(d);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, size, sha: hash.digest("hex") }));
      })
      .on("error", reject);
  });
}

export interface TcpGate {
  port: number;
  /** Refuses connections (and cuts open ones) until `open()`: a server that went away. */
  shut(): Promise<void>;
  open(): Promise<void>;
  close(): Promise<void>;
}

/** A loopback TCP relay to `target` on its own port, that can be shut to make the server behind it unreachable. */
export async function tcpGate(targetPort: number): Promise<TcpGate> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  return { port, shut: stop, open: () => listen(port), close: stop };
}

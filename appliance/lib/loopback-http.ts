/**
 * Small requests to a local service on 127.0.0.1 through node:http. The supervisor uses this, not fetch(): the
 * first fetch() in a process loads undici (~10 MB of RSS, ~70 ms of CPU), which an idle supervisor needs for
 * nothing else. Bodies are small JSON documents; a larger one is refused.
 */
import { request } from "node:http";

export interface LoopbackOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Deadline for the whole exchange, connect to the last body byte. */
  timeoutMs?: number;
  /** Largest body read, in bytes. */
  maxBytes?: number;
}

export interface LoopbackResponse {
  status: number;
  body: string;
}

/** One request to `http://127.0.0.1:<port><path>` on a fresh connection; rejects on errors and the deadline. */
export function loopbackRequest(
  port: number,
  path: string,
  opts: LoopbackOptions = {},
): Promise<LoopbackResponse> {
  const { method = "GET", headers, timeoutMs = 2000, maxBytes = 1 << 20 } = opts;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const fail = (err: Error) => settle(() => reject(err));
    const req = request({ host: "127.0.0.1", port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= maxBytes) return void chunks.push(c);
        fail(new Error(`response over ${maxBytes} bytes`));
        req.destroy();
      });
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        settle(() => resolve({ status: res.statusCode ?? 0, body }));
      });
      res.on("error", fail);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    req.on("error", fail);
    req.end();
  });
}

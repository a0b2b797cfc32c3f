/** The gateway's own answers: JSON, pages with their security headers, and `{ status, message, data }` errors. */
import type { IncomingMessage, ServerResponse } from "node:http";

/** A JSON answer. */
export function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** A page (HTML or script) with a strict content security policy. */
export function page(res: ServerResponse, body: string, type: string) {
  res.writeHead(200, {
    "content-type": `${type}; charset=utf-8`,
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  res.end(body);
}

/** `{ status, message, data }` from the gateway itself. */
export function fail(
  res: ServerResponse,
  status: number,
  message: string,
  data: unknown = null,
  headers = {},
) {
  send(res, status, { status, message, data }, headers);
}

/**
 * The client's address. A request on a unix socket has none of its own: it came from the shared host's
 * gateway (owner-only socket in the data dir), which names the client in `x-forwarded-for`.
 */
export function clientIp(req: IncomingMessage): string {
  const own = req.socket.remoteAddress;
  if (own) return own;
  const fwd = req.headers["x-forwarded-for"];
  return (typeof fwd === "string" && fwd.split(",")[0]?.trim()) || "unknown";
}

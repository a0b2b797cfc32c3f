/**
 * Raw HTTP/1.1 over a plain TCP socket, for requests fetch will not send: un-normalised `..`, broken framing,
 * byte-by-byte headers, bodies that never end. Loopback only. Every exchange is bounded by a timeout.
 */
import net from "node:net";

export interface RawResponse {
  status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

export interface RawResult {
  /** The first complete response, or null when none arrived. */
  response: RawResponse | null;
  /** Everything the server sent, as latin1. */
  raw: string;
  /** The server closed (or reset) the connection before the exchange timed out. */
  closed: boolean;
  /** The socket error seen, if any (ECONNRESET, EPIPE). */
  error: string | null;
  elapsedMs: number;
}

export interface RawOptions {
  timeoutMs?: number;
  localAddress?: string;
  /** Keep reading after the first response until the server closes (pipelining). */
  untilClose?: boolean;
  /** The request was a HEAD: the response has no body whatever its content-length says. */
  head?: boolean;
}

/** Builds a request's bytes. `content-length` is added for a body unless a framing header is given. */
export function rawRequestText(
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body = "",
): string {
  const h: Record<string, string> = { host: "127.0.0.1", connection: "close", ...headers };
  const framed = Object.keys(h).some((k) => /^(content-length|transfer-encoding)$/i.test(k));
  if (body && !framed) h["content-length"] = String(Buffer.byteLength(body));
  const lines = Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`);
  return `${method} ${target} HTTP/1.1\r\n${lines.join("")}\r\n${body}`;
}

/** Parses the first complete response in `raw`; null while incomplete. */
export function parseResponse(raw: string, ended = false, head = false): RawResponse | null {
  const headEnd = raw.indexOf("\r\n\r\n");
  if (headEnd === -1) return null;
  const [statusLine = "", ...lines] = raw.slice(0, headEnd).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i === -1) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  const rest = raw.slice(headEnd + 4);
  const body = head ? "" : responseBody(rest, headers, ended);
  if (body === null) return null;
  return { status: Number(m[1]), headers, body: Buffer.from(body, "latin1").toString("utf8") };
}

function responseBody(rest: string, headers: Record<string, string>, ended: boolean): string | null {
  if (headers["content-length"] !== undefined) {
    const n = Number(headers["content-length"]);
    return rest.length >= n ? rest.slice(0, n) : null;
  }
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) return dechunk(rest);
  return ended ? rest : null;
}

function dechunk(s: string): string | null {
  let out = "";
  let i = 0;
  for (;;) {
    const eol = s.indexOf("\r\n", i);
    if (eol === -1) return null;
    const size = Number.parseInt(s.slice(i, eol), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return out;
    if (s.length < eol + 2 + size + 2) return null;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}

/**
 * Opens a socket to 127.0.0.1:`port`, lets `write` send whatever it likes (it may keep writing while the
 * answer arrives), and resolves once a full response came, the server closed, or `timeoutMs` passed.
 */
export function rawExchange(
  port: number,
  write: (socket: net.Socket, done: () => boolean) => void | Promise<void>,
  opts: RawOptions = {},
): Promise<RawResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: opts.localAddress });
    let raw = "";
    let error: string | null = null;
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        response: parseResponse(raw, closed, opts.head),
        raw,
        closed,
        error,
        elapsedMs: Date.now() - started,
      });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 20_000);
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      raw += d;
      if (!opts.untilClose && parseResponse(raw, false, opts.head)) finish(false);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on("close", () => finish(true));
    socket.once("connect", () => {
      Promise.resolve(write(socket, () => settled || socket.destroyed)).catch((err: Error) => {
        error ??= err.message;
      });
    });
  });
}

/** Sends one request's bytes and reads one response. */
export function rawRequest(port: number, text: string | Buffer, opts: RawOptions = {}): Promise<RawResult> {
  return rawExchange(port, (s) => void s.write(text), opts);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

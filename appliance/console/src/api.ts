/**
 * Talking to the gateway: JSON calls with the session cookie and the CSRF header on state-changing requests,
 * errors as ApiError (the gateway's `{ status, message, data }`), and one shared "is the box reachable" state
 * that the banner shows. A failed request never throws past the page that made it unhandled.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly data: unknown = null,
  ) {
    super(message);
  }
}

type Listener = () => void;
const listeners = new Set<Listener>();
let unreachable = false;
let sessionEnded = false;
let probe: number | null = null;

/** Subscribes to connectivity / session changes; returns the unsubscribe function. */
export function onConnectivity(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
export const isUnreachable = () => unreachable;
export const hasSessionEnded = () => sessionEnded;

function notify() {
  for (const l of listeners) l();
}

/** Marks the box unreachable and probes /health every 3 s until it answers again. */
export function markUnreachable() {
  if (unreachable) return;
  unreachable = true;
  notify();
  probe = window.setInterval(async () => {
    try {
      const res = await fetch("/health", { cache: "no-store" });
      if (res.ok) markReachable();
    } catch {
      // still down
    }
  }, 3000);
}

function markReachable() {
  if (!unreachable) return;
  unreachable = false;
  if (probe !== null) window.clearInterval(probe);
  probe = null;
  notify();
}

export function setSessionEnded(v: boolean) {
  sessionEnded = v;
  notify();
}

function cookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=") || undefined;
  }
  return undefined;
}

/** The CSRF token of the current session (readable cookie set at login). */
export const csrfToken = () => cookie("nexus_csrf");
/** True when the browser holds a session (the CSRF cookie comes and goes with the session cookie). */
export const hasSession = () => !!csrfToken();

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Headers for a request: CSRF token on state-changing methods. */
export function headersFor(method: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  const csrf = csrfToken();
  if (UNSAFE.has(method) && csrf) h["x-csrf-token"] = csrf;
  return h;
}

/** One JSON call through the gateway. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: headersFor(method, body === undefined ? {} : { "content-type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    markUnreachable();
    throw new ApiError(0, "The appliance cannot be reached.");
  }
  markReachable();
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = (data ?? {}) as { message?: string; data?: unknown };
    if (res.status === 401 && !path.startsWith("/api/identity/login")) setSessionEnded(true);
    throw new ApiError(res.status, e.message ?? `request failed (${res.status})`, e.data ?? null);
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
/** POST; without `body`, the request has none (the appliance's actions refuse one). */
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body);
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const del = <T>(path: string) => api<T>("DELETE", path);

/** A readable message for any error a call can throw. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * A Server-Sent Events stream with reconnection (the browser's own), that reports the box unreachable when
 * the stream breaks and /health does not answer either.
 */
export function stream(url: string, handlers: Record<string, (data: unknown) => void>): () => void {
  const es = new EventSource(url);
  for (const [event, fn] of Object.entries(handlers)) {
    es.addEventListener(event, (e) => {
      markReachable();
      fn(JSON.parse((e as MessageEvent<string>).data));
    });
  }
  es.onerror = () => {
    fetch("/health", { cache: "no-store" }).then(
      (r) => {
        if (!r.ok) markUnreachable();
      },
      () => markUnreachable(),
    );
  };
  return () => es.close();
}

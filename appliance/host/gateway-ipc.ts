/**
 * IPC between the supervisor and a shared host's gateway (host/gateway.ts): connections handed over (and
 * released again), the host saying its gateway is up, and the supervisor asking for the host gateway's metrics.
 */
import type { ChildProcess } from "node:child_process";

/** Supervisor → host: `{ type, id }` with a connection's socket. */
export const GATEWAY_CONNECTION = "gateway-connection";
/**
 * Host → supervisor: `{ type, id, back }` once the host closed its copy of connection `id`: `back` when it was
 * idle at a request boundary (the host is draining) and the supervisor's gateway should serve it from now on,
 * else the supervisor closes its copy too (the connection is over).
 */
export const GATEWAY_RELEASE = "gateway-release";
export const GATEWAY_READY = "gateway-ready";
export const GATEWAY_METRICS = "gateway-metrics";

let nextId = 1;

/** Sends `{ type, id }` to `child` and resolves with its reply's payload (same type and id); null on timeout. */
export function askChild<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T | null> {
  const id = nextId++;
  return new Promise((resolve) => {
    const done = (value: T | null) => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(value);
    };
    const onMessage = (msg: { type?: string; id?: number; payload?: T } | null) => {
      if (msg?.type === type && msg.id === id) done(msg.payload ?? null);
    };
    const onExit = () => done(null);
    const timer = setTimeout(() => done(null), timeoutMs);
    child.on("message", onMessage);
    child.once("exit", onExit);
    if (!child.connected) return done(null);
    child.send({ type, id }, (err) => {
      if (err) done(null);
    });
  });
}

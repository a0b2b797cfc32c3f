/** Readiness probes: GET /ready on each service port of a unit. */

/** True when the service on `port` answers /ready with 2xx within `timeoutMs`. */
export async function probeReady(port: number, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** True when every port answers ready. */
export async function unitReady(ports: number[], timeoutMs?: number): Promise<boolean> {
  const results = await Promise.all(ports.map((p) => probeReady(p, timeoutMs)));
  return results.every(Boolean);
}

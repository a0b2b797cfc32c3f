/**
 * Sourcing a site's backlog as soon as its leafnode link is up. nats-server v2.9 (the one shipped) asks the box
 * for its source's consumer when `EDGE_<site>` starts and, unanswered (no box linked yet), asks again only ~5 s
 * later, whenever the link came up (docs/benchmarks.md, "The wait between link up and sourcing"). Taking the
 * source out of the stream and putting it back makes the server ask at once; it resumes after the last message
 * it holds from that source (by the source headers of the stream's messages: every message of `EDGE_<site>`
 * comes from its one source, so that backwards scan stops at the stream's last message, however large it is).
 *
 * How the hub learns that the link is up: it asks the box's JetStream for its account info (`$JS.<site>.API.INFO`)
 * over the same path the source uses. While no box is linked the hub's server answers "no responders" at once,
 * without leaving the server, so a down link costs one local round trip per `downMs`; a linked one is asked every
 * `upMs` (a shorter flap is left to nats-server's own retry, as before). No server config is needed, so it works
 * the same with the hub's own nats-server and with an external cluster (where the system account's advisories
 * and `/leafz` are not the hub's to read), and with boxes of any version.
 *
 * Several hub replicas: only the replica that ingests a site watches it (replicas.ts). Should two do it during
 * a handover, it stays harmless: each one's last step puts the full source back (never a copy read from the
 * stream), and a source put back twice resumes from the same headers. A hub killed between the two updates
 * leaves the stream without its source until `ensureEdgeStream` (every ingest start) puts it back.
 */
import type { JetStreamManager, NatsConnection } from "nats";
import type { Logger } from "../kit/index.js";
import { edgeSources, edgeStream } from "./ingest.js";

export interface LinkWatchOptions {
  /** How often a site whose link is down is asked (default 500 ms). */
  downMs?: number;
  /** How often a linked site is asked (default 5 s). */
  upMs?: number;
  /** How long an answer may take over the link (default 5 s). */
  timeoutMs?: number;
  /** Told each time the source was put back (tests, logs). */
  onResourced?: (site: string) => void;
}

/** Whether the site's box answers its JetStream API over the leafnode; null: no answer in time (unknown). */
export async function boxLinked(
  nc: NatsConnection,
  site: string,
  timeoutMs: number,
): Promise<boolean | null> {
  try {
    await nc.request(`$JS.${site}.API.INFO`, undefined, { timeout: timeoutMs });
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "503" ? false : null;
  }
}

/** Heard from the source this recently (`active` in the stream info; -1 while it is not set up): it runs. */
const ALIVE_NS = 5e9;

/**
 * Takes the site's source out of `EDGE_<site>` and puts it back: nats-server then sets the source up at once.
 * `unlessAlive`: not when the source was heard from lately (a hub replica starting beside a running cluster).
 * Returns whether it did.
 */
export async function resource(jsm: JetStreamManager, site: string, unlessAlive = false): Promise<boolean> {
  const name = edgeStream(site);
  const { config, sources } = await jsm.streams.info(name);
  const active = sources?.[0]?.active ?? -1;
  if (unlessAlive && active >= 0 && active < ALIVE_NS) return false;
  try {
    await jsm.streams.update(name, { ...config, sources: [] });
  } finally {
    await jsm.streams.update(name, { ...config, sources: edgeSources(site) });
  }
  return true;
}

/**
 * Watches one site's link and re-adds its source each time the link comes up (and at the start, when the link
 * is found up and the source is not running: the server may have asked before the link was up). Runs until the
 * returned `stop()`.
 */
export function watchLink(
  nc: NatsConnection,
  jsm: JetStreamManager,
  site: string,
  log: Logger,
  opts: LinkWatchOptions = {},
): { stop(): Promise<void> } {
  const downMs = opts.downMs ?? 500;
  const upMs = opts.upMs ?? 5000;
  const timeoutMs = opts.timeoutMs ?? 5000;
  let running = true;
  let wake: (() => void) | null = null;
  const pause = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });
  const loop = (async () => {
    // null: not known yet. Found up at the start, the source may be running already (an external cluster).
    let linked: boolean | null = null;
    while (running && !nc.isClosed()) {
      const now = await boxLinked(nc, site, timeoutMs);
      if (now === true && linked !== true) {
        try {
          if (await resource(jsm, site, linked === null)) {
            log.info({ site }, "site linked: its stream source set up again");
            opts.onResourced?.(site);
          }
          linked = true;
        } catch (err) {
          // Asked again next time round; the server's own retry still runs meanwhile.
          log.warn({ err: (err as Error).message, site }, "re-adding the site's stream source failed");
        }
      } else if (now === false) linked = false;
      if (running) await pause(linked === true ? upMs : downMs);
    }
  })();
  return {
    async stop() {
      running = false;
      wake?.();
      await loop;
    },
  };
}

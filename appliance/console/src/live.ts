/**
 * The live box status: one SSE stream (`/api/appliance/events`) shared by every page that shows it, with the
 * last 60 readings kept for the charts. The stream opens with the first subscriber and closes with the last.
 */
import { useEffect, useState } from "preact/hooks";
import { stream } from "./api";
import type { Status } from "./types";

export interface Sample {
  at: number;
  cpu: number;
  memory: number;
  disk: number | null;
  gpu: number | null;
  /** Changes waiting for the hub's acknowledgement (null: no sync status in the reading). */
  backlog: number | null;
}

export interface LiveStatus {
  status: Status | null;
  history: Sample[];
}

const HISTORY = 60;
let current: LiveStatus = { status: null, history: [] };
const subscribers = new Set<(s: LiveStatus) => void>();
let close: (() => void) | null = null;

function receive(s: Status) {
  const sample: Sample = {
    at: Date.parse(s.time),
    cpu: s.box.cpuPercent,
    memory: s.box.memory.usedPercent,
    disk: s.box.disk?.usedPercent ?? null,
    gpu: s.box.gpus?.[0]?.utilizationPercent ?? null,
    backlog: s.sync?.backlog ?? null,
  };
  current = { status: s, history: [...current.history, sample].slice(-HISTORY) };
  for (const fn of subscribers) fn(current);
}

/** The latest status and history; re-renders the component on every reading. */
export function useLiveStatus(): LiveStatus {
  const [value, setValue] = useState(current);
  useEffect(() => {
    subscribers.add(setValue);
    setValue(current);
    close ??= stream("/api/appliance/events", { status: (d) => receive(d as Status) });
    return () => {
      subscribers.delete(setValue);
      if (subscribers.size === 0) {
        close?.();
        close = null;
      }
    };
  }, []);
  return value;
}

/** Forgets readings (at logout, so the next user does not see the last one's). */
export function resetLiveStatus() {
  close?.();
  close = null;
  current = { status: null, history: [] };
}

/**
 * The queue of unsent submissions: a filled form is stored in IndexedDB first and sent afterwards, so a
 * submission made with no connection (or a box that is down) waits on the phone and goes when the box answers.
 * One flush at a time; a submission leaves the queue only once the box accepted it. A refusal (4xx) keeps it
 * with the box's message, so the user sees why; it is tried again on the next flush.
 */
import { BoxRefused, postSubmission } from "./openrosa.js";
import { listQueue, putQueued, type QueuedPart, type QueuedSubmission, removeQueued } from "./store.js";

let flushing: Promise<void> | null = null;
const listeners = new Set<() => void>();

/** Called after every change to the queue. */
export const onQueueChange = (fn: () => void) => listeners.add(fn);
const changed = () => {
  for (const fn of listeners) fn();
};

/** Turns web-forms' payload (a FormData) into storable parts. */
export function partsOf(data: FormData): QueuedPart[] {
  const parts: QueuedPart[] = [];
  for (const [name, value] of data.entries()) {
    if (typeof value === "string") parts.push({ name, blob: new Blob([value]), filename: name });
    else parts.push({ name, blob: value, filename: value.name || name });
  }
  return parts;
}

/** Keeps a filled form until the box has it. */
export async function enqueue(q: Omit<QueuedSubmission, "attempts" | "lastError">): Promise<void> {
  await putQueued({ ...q, attempts: 0, lastError: null });
  changed();
}

/** Sends what is waiting, oldest first; stops at the first one that cannot reach the box. */
export function flush(): Promise<void> {
  flushing ??= sendAll().finally(() => {
    flushing = null;
  });
  return flushing;
}

async function sendAll() {
  for (const q of await listQueue()) {
    try {
      await postSubmission(q.parts);
      await removeQueued(q.instanceID);
    } catch (err) {
      const refused = err instanceof BoxRefused;
      await putQueued({
        ...q,
        attempts: q.attempts + 1,
        lastError: refused ? `${err.status}: ${err.message}` : "the box cannot be reached",
      });
      changed();
      // Offline or box down: the rest would fail the same way. A refusal only concerns this one.
      if (!refused || err.status === 401 || err.status === 403) return;
      continue;
    }
    changed();
  }
}

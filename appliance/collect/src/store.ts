/**
 * What the web app keeps in the browser (IndexedDB `nexus-collect`): the form definitions it downloaded, so
 * forms open with no connection, and the queue of submissions not yet accepted by the box. A queued
 * submission holds its parts as Blobs (the instance XML and each photo), exactly what is POSTed later.
 */
import type { QueuedPart } from "./types.js";

export type { QueuedPart };

export interface CachedForm {
  formId: string;
  name: string;
  version: string;
  hash: string;
  xml: string;
  /** Media files from the form's manifest, by file name. */
  media: Record<string, Blob>;
}

export interface QueuedSubmission {
  instanceID: string;
  formId: string;
  formName: string;
  createdAt: string;
  parts: QueuedPart[];
  attempts: number;
  lastError: string | null;
}

/** A form being filled, kept as the user types (one per form): its instance XML so far and its photos. */
export interface Draft {
  formId: string;
  savedAt: string;
  xml: string;
  files: QueuedPart[];
}

const DB_NAME = "nexus-collect";
const FORMS = "forms";
const QUEUE = "queue";
const DRAFTS = "drafts";

let opening: Promise<IDBDatabase> | null = null;

function open(): Promise<IDBDatabase> {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 2);
    req.onupgradeneeded = () => {
      const have = req.result.objectStoreNames;
      if (!have.contains(FORMS)) req.result.createObjectStore(FORMS, { keyPath: "formId" });
      if (!have.contains(QUEUE)) req.result.createObjectStore(QUEUE, { keyPath: "instanceID" });
      if (!have.contains(DRAFTS)) req.result.createObjectStore(DRAFTS, { keyPath: "formId" });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return opening;
}

async function run<T>(store: string, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>) {
  const db = await open();
  return new Promise<T>((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = fn(tx.objectStore(store));
    // Resolve on commit, not on the request: a write is only kept once its transaction completes.
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });
}

export const listForms = () => run<CachedForm[]>(FORMS, "readonly", (s) => s.getAll());
export const getForm = (formId: string) =>
  run<CachedForm | undefined>(FORMS, "readonly", (s) => s.get(formId));
export const putForm = (f: CachedForm) => run(FORMS, "readwrite", (s) => s.put(f));
export const deleteForm = (formId: string) => run(FORMS, "readwrite", (s) => s.delete(formId));

/** The waiting submissions, oldest first. */
export async function listQueue(): Promise<QueuedSubmission[]> {
  const all = await run<QueuedSubmission[]>(QUEUE, "readonly", (s) => s.getAll());
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}
export const putQueued = (q: QueuedSubmission) => run(QUEUE, "readwrite", (s) => s.put(q));
export const removeQueued = (instanceID: string) => run(QUEUE, "readwrite", (s) => s.delete(instanceID));

export const listDrafts = () => run<Draft[]>(DRAFTS, "readonly", (s) => s.getAll());
export const getDraft = (formId: string) => run<Draft | undefined>(DRAFTS, "readonly", (s) => s.get(formId));
export const putDraft = (d: Draft) => run(DRAFTS, "readwrite", (s) => s.put(d));
export const deleteDraft = (formId: string) => run(DRAFTS, "readwrite", (s) => s.delete(formId));

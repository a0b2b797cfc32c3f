/**
 * The box's OpenRosa API as the web app uses it: the form list (`xformsList`), each form's XML and manifest,
 * and multipart submissions (`xml_submission_file` plus attachments). Credentials: an app user's token given
 * once in the app's address (`/collect/?token=…`, kept in localStorage) and used in the key URL; without one,
 * the console's session cookie (with its CSRF header on POST) at `/api/forms/me/openrosa`, where the gateway
 * checks the signed-in user's forms:read and forms:submit.
 */
import type { QueuedPart } from "./store.js";

/** Where the forms service answers OpenRosa clients (through the gateway): app users, and console users. */
export const OPENROSA_BASE = "/api/forms/openrosa";
export const SESSION_BASE = "/api/forms/me/openrosa";
const TOKEN_KEY = "nexus-collect-token";

export interface ListedForm {
  formId: string;
  name: string;
  version: string;
  hash: string;
  downloadUrl: string;
  manifestUrl: string | null;
}

export const appToken = () => localStorage.getItem(TOKEN_KEY);
export const setAppToken = (t: string | null) =>
  t ? localStorage.setItem(TOKEN_KEY, t) : localStorage.removeItem(TOKEN_KEY);

function cookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=") || undefined;
  }
  return undefined;
}

/** The OpenRosa base this device uses: the app user's key path, or the signed-in session's. */
export function openRosaBase(): string {
  const token = appToken();
  return token ? `${OPENROSA_BASE}/key/${encodeURIComponent(token)}` : SESSION_BASE;
}

/** The headers every OpenRosa request carries; `unsafe` adds the session's CSRF token. */
export function orHeaders(unsafe = false): Record<string, string> {
  const h: Record<string, string> = { "X-OpenRosa-Version": "1.0" };
  const csrf = cookie("nexus_csrf");
  if (unsafe && csrf && !appToken()) h["x-csrf-token"] = csrf;
  return h;
}

/** Raised for an answer the box gave (as opposed to no answer at all). */
export class BoxRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function fetchOk(url: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(url, { credentials: "same-origin", cache: "no-store", ...init });
  if (!res.ok) throw new BoxRefused(res.status, await refusalText(res));
  return res;
}

async function refusalText(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  const json = /^\s*\{/.test(text) ? (JSON.parse(text) as { message?: string }) : null;
  const xml = /<message[^>]*>([^<]*)<\/message>/.exec(text)?.[1];
  return json?.message ?? xml ?? `the box answered ${res.status}`;
}

const text = (el: Element, tag: string) => el.getElementsByTagName(tag)[0]?.textContent?.trim() ?? "";

/** Parses an OpenRosa `xforms` list. */
export function parseFormList(xml: string): ListedForm[] {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  return [...doc.getElementsByTagName("xform")].map((x) => ({
    formId: text(x, "formID"),
    name: text(x, "name") || text(x, "formID"),
    version: text(x, "version"),
    hash: text(x, "hash"),
    downloadUrl: text(x, "downloadUrl"),
    manifestUrl: text(x, "manifestUrl") || null,
  }));
}

/** The forms this user (or app user) may fill. */
export async function fetchFormList(): Promise<ListedForm[]> {
  const res = await fetchOk(`${openRosaBase()}/formList`, { headers: orHeaders() });
  return parseFormList(await res.text());
}

/** Same-origin path of a URL the box gave (it may name its own host as seen from elsewhere). */
const local = (url: string) => {
  const u = new URL(url, location.origin);
  return `${u.pathname}${u.search}`;
};

export async function fetchFormXml(f: ListedForm): Promise<string> {
  return (await fetchOk(local(f.downloadUrl), { headers: orHeaders() })).text();
}

/** The form's media files (manifest), downloaded; empty when it has none. */
export async function fetchMedia(f: ListedForm): Promise<Record<string, Blob>> {
  if (!f.manifestUrl) return {};
  const doc = new DOMParser().parseFromString(
    await (await fetchOk(local(f.manifestUrl), { headers: orHeaders() })).text(),
    "application/xml",
  );
  const media: Record<string, Blob> = {};
  for (const m of doc.getElementsByTagName("mediaFile")) {
    const url = text(m, "downloadUrl");
    if (url) media[text(m, "filename")] = await (await fetchOk(local(url), { headers: orHeaders() })).blob();
  }
  return media;
}

/** POSTs one submission; resolves once the box accepted it (201, or 200/202 for a resend it already has). */
export async function postSubmission(parts: QueuedPart[]): Promise<void> {
  const body = new FormData();
  for (const p of parts) body.append(p.name, p.blob, p.filename);
  await fetchOk(`${openRosaBase()}/submission`, { method: "POST", headers: orHeaders(true), body });
}

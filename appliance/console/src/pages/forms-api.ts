/**
 * The forms service's management API as the console's Forms pages use it (`/api/forms/…`): the shapes it
 * answers, the raw form upload (an .xlsx or XForm body, not JSON) and the filter query of submissions and
 * exports.
 */
import { ApiError, headersFor, markUnreachable } from "../api";

export interface FormVersion {
  formId: string;
  version: string;
  state: "draft" | "published" | "archived";
  title: string;
  hash: string;
  source: string;
  createdAt: string;
  publishedAt: string | null;
  archivedAt: string | null;
  fieldCount: number;
  attachments: { name: string; uploaded: boolean }[];
}

export interface FormItem {
  id: string;
  title: string;
  state: string;
  currentVersion: string | null;
  submissions: number;
  versions: FormVersion[];
}

export interface Submission {
  id: string;
  formId: string;
  version: string;
  instanceId: string;
  instanceName: string | null;
  submitter: string;
  site: string | null;
  receivedAt: string;
  reviewState: string;
  reviewComment: string | null;
  revision: number;
  fields: Record<string, string>;
  attachments: {
    name: string;
    present: boolean;
    size: number | null;
    contentType: string | null;
    /** What the AI service found in it (`ai.*` keys), null until analysed. */
    ai: Record<string, string | number> | null;
  }[];
  xml?: string;
}

export interface AppUser {
  id: string;
  name: string;
  createdAt: string;
  revokedAt: string | null;
  /** The forms it may use; null: every published form. */
  forms: string[] | null;
}

/** "a, b" → ["a", "b"]; empty → null (every form). */
export function formIdsOf(text: string): string[] | null {
  const ids = text
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
  return ids.length ? ids : null;
}

export interface CreatedAppUser {
  appUser: AppUser;
  token: string;
  serverUrl: string;
  collectSettings: unknown;
}

export interface Filter {
  formId: string;
  reviewState: string;
  from: string;
  to: string;
}

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/** The query string of `f` (empty values left out), with `extra` pairs. */
export function filterQuery(f: Partial<Filter>, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...f, ...extra })) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Uploads an XLSForm or XForm file; the box's cell-addressed errors come back in ApiError.data.errors. */
export async function uploadForm(
  file: File,
  publish: boolean,
): Promise<{ warnings: string[]; form: FormItem }> {
  const type = /\.xlsx$/i.test(file.name) ? XLSX : "application/xml";
  let res: Response;
  try {
    res = await fetch(`/api/forms/forms${publish ? "?publish=true" : ""}`, {
      method: "POST",
      credentials: "same-origin",
      headers: headersFor("POST", { "content-type": type }),
      body: file,
    });
  } catch {
    markUnreachable();
    throw new ApiError(0, "The appliance cannot be reached.");
  }
  const body = (await res.json().catch(() => ({}))) as { message?: string; data?: unknown };
  if (!res.ok)
    throw new ApiError(res.status, body.message ?? `upload failed (${res.status})`, body.data ?? null);
  return body as unknown as { warnings: string[]; form: FormItem };
}

/** The cell-addressed errors of a refused upload (`survey!B7: unknown type …`), if it carried any. */
export function uploadErrors(err: unknown): string[] {
  const data = err instanceof ApiError ? (err.data as { errors?: unknown } | null) : null;
  return Array.isArray(data?.errors) ? data.errors.map(String) : [];
}

/** The path of a form version's action. */
export const versionPath = (v: FormVersion, action: string) =>
  `/api/forms/forms/${encodeURIComponent(v.formId)}/versions/${encodeURIComponent(v.version || "-")}/${action}`;

/**
 * OpenRosa 1.0 documents as plain functions: the Form List (xformsList namespace), the Manifest and the
 * OpenRosaResponse a submission is answered with. Every value is escaped; URLs are absolute, built from the
 * base the client reached.
 */
import type { AttachmentRow, VersionRow } from "./forms.js";
import { esc } from "./xml.js";

export const OPENROSA_HEADERS = {
  "X-OpenRosa-Version": "1.0",
  "Content-Type": "text/xml; charset=utf-8",
} as const;

const enc = encodeURIComponent;

/** Where one version's pieces are, under the client's base URL. */
export function versionUrls(base: string, v: { form_id: string; version: string }) {
  const at = `${base}/forms/${enc(v.form_id)}/${enc(v.version || "-")}`;
  return { download: `${at}/form.xml`, manifest: `${at}/manifest`, attachments: `${at}/attachments` };
}

/** The newest published version of each form, as OpenRosa's formList. */
export function formListXml(
  base: string,
  versions: VersionRow[],
  mediaCount: (v: VersionRow) => number,
): string {
  const newest = new Map<string, VersionRow>();
  for (const v of versions) newest.set(v.form_id, v); // ordered by published_at: the last one wins
  const items = [...newest.values()].map((v) => {
    const urls = versionUrls(base, v);
    const manifest = mediaCount(v) ? `<manifestUrl>${esc(urls.manifest)}</manifestUrl>` : "";
    return (
      `<xform><formID>${esc(v.form_id)}</formID><name>${esc(v.title)}</name><version>${esc(v.version)}</version>` +
      `<hash>md5:${v.md5}</hash><downloadUrl>${esc(urls.download)}</downloadUrl>${manifest}</xform>`
    );
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<xforms xmlns="http://openrosa.org/xforms/xformsList">${items.join("")}</xforms>`;
}

/** The manifest of one version's form attachments. */
export function manifestXml(base: string, v: VersionRow, files: AttachmentRow[]): string {
  const urls = versionUrls(base, v);
  const items = files.map(
    (f) =>
      `<mediaFile><filename>${esc(f.name)}</filename><hash>md5:${f.md5}</hash>` +
      `<downloadUrl>${esc(`${urls.attachments}/${enc(f.name)}`)}</downloadUrl></mediaFile>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>\n<manifest xmlns="http://openrosa.org/xforms/xformsManifest">${items.join("")}</manifest>`;
}

/** An OpenRosaResponse carrying one message (`nature` submit_success or error). */
export function openRosaResponse(message: string, nature = "submit_success"): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<OpenRosaResponse xmlns="http://openrosa.org/http/response"><message nature="${esc(nature)}">${esc(message)}</message></OpenRosaResponse>`;
}

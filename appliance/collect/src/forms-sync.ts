/**
 * Keeps the phone's copy of the form definitions current: fetches the form list, downloads a form whose hash
 * changed (its XML and media) and forgets forms no longer offered. With no connection the cached copies stay.
 */
import { fetchFormList, fetchFormXml, fetchMedia } from "./openrosa.js";
import { deleteForm, listForms, putForm } from "./store.js";

/** Refreshes the cache from the box; throws when the box cannot be reached or refuses. */
export async function refreshForms(): Promise<void> {
  const listed = await fetchFormList();
  const cached = new Map((await listForms()).map((f) => [f.formId, f]));
  for (const f of listed) {
    const have = cached.get(f.formId);
    if (have && have.hash === f.hash && have.version === f.version) continue;
    const [xml, media] = await Promise.all([fetchFormXml(f), fetchMedia(f)]);
    await putForm({ formId: f.formId, name: f.name, version: f.version, hash: f.hash, xml, media });
  }
  const offered = new Set(listed.map((f) => f.formId));
  for (const id of cached.keys()) if (!offered.has(id)) await deleteForm(id);
}

/**
 * One form on screen: ODK Web Forms (a Vue component) mounted into `el` with the cached XForm and media, and
 * the draft of this form when there is one. What is typed is saved as the draft (drafts.ts). On "Send" the
 * payload goes to the outbox (IndexedDB), the draft is dropped and the form resets for a new entry; sending to
 * the box happens afterwards, whether or not there is a connection now.
 */
import type { HostSubmissionResultCallback, MonolithicInstancePayload } from "@getodk/web-forms";
import { OdkWebForm, POST_SUBMIT__NEW_INSTANCE, webFormsPlugin } from "@getodk/web-forms";
import { createApp, h } from "vue";
import { findEngineRoot, snapshot, type VNodeLike, withoutDeprecatedId } from "./drafts.js";
import { enqueue, flush, partsOf } from "./outbox.js";
import { type CachedForm, type Draft, deleteDraft, putDraft, type QueuedPart } from "./store.js";

/** How long typing must pause before the draft is saved. */
const DRAFT_DELAY_MS = 700;

/** The instance's `meta/instanceID` (the queue's key, and the box's key against duplicates). */
function instanceIdOf(xml: string): string {
  return /<(?:[\w-]+:)?instanceID>\s*([^<\s]+)\s*</.exec(xml)?.[1] ?? `uuid:${crypto.randomUUID()}`;
}

/** The submission's parts, its XML without the `deprecatedID` a reopened draft got. */
async function submissionParts(data: FormData): Promise<{ parts: QueuedPart[]; xml: string }> {
  const parts = partsOf(data);
  const main = parts.find((p) => p.name === "xml_submission_file");
  const xml = withoutDeprecatedId(main ? await main.blob.text() : "");
  if (main) main.blob = new Blob([xml], { type: "text/xml" });
  return { parts, xml };
}

export interface FormView {
  unmount(): void;
}

export interface FormCallbacks {
  onQueued: () => void;
  onDraftSaved: (d: Draft) => void;
}

/** Mounts `form` into `el`, reopening `draft` when given. */
export function mountForm(
  el: HTMLElement,
  form: CachedForm,
  draft: Draft | undefined,
  cb: FormCallbacks,
): FormView {
  const fetchFormAttachment = async (url: URL | string): Promise<Response> => {
    const name = String(url).split("/").pop() ?? "";
    const blob = form.media[decodeURIComponent(name)];
    return blob ? new Response(blob) : new Response(null, { status: 404 });
  };
  let timer: number | undefined;
  const onSubmit = async (payload: MonolithicInstancePayload, done: HostSubmissionResultCallback) => {
    window.clearTimeout(timer);
    const { parts, xml } = await submissionParts(payload.data[0]);
    await enqueue({
      instanceID: instanceIdOf(xml),
      formId: form.formId,
      formName: form.name,
      createdAt: new Date().toISOString(),
      parts,
    });
    await deleteDraft(form.formId);
    done({ next: POST_SUBMIT__NEW_INSTANCE });
    cb.onQueued();
    void flush();
  };
  const editInstance = draft && {
    resolveInstance: async () => draft.xml,
    attachmentFileNames: draft.files.map((f) => f.name),
    resolveAttachment: async (name: string) =>
      new Response(draft.files.find((f) => f.name === name)?.blob ?? null),
  };
  const app = createApp({
    render: () =>
      h(OdkWebForm, {
        formXml: form.xml,
        fetchFormAttachment,
        missingResourceBehavior: "BLANK",
        trackDevice: true,
        editInstance,
        onSubmit,
      }),
  });
  app.use(webFormsPlugin);
  const instance = (app.mount(el) as unknown as { $: VNodeLike["component"] }).$;
  const save = async () => {
    const snap = await snapshot(findEngineRoot({ component: instance })).catch(() => null);
    if (!snap) return;
    const d: Draft = { formId: form.formId, savedAt: new Date().toISOString(), ...snap };
    await putDraft(d);
    cb.onDraftSaved(d);
  };
  const schedule = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void save(), DRAFT_DELAY_MS);
  };
  el.addEventListener("input", schedule, true);
  el.addEventListener("change", schedule, true);
  return {
    unmount: () => {
      window.clearTimeout(timer);
      app.unmount();
    },
  };
}

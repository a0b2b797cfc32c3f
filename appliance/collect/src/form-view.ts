/**
 * One form on screen: ODK Web Forms (a Vue component) mounted into `el` with the cached XForm and media. On
 * "Send" the payload goes to the outbox (IndexedDB) and the form resets for a new entry; sending to the box
 * happens afterwards, whether or not there is a connection now.
 */

import type { HostSubmissionResultCallback, MonolithicInstancePayload } from "@getodk/web-forms";
import { OdkWebForm, POST_SUBMIT__NEW_INSTANCE, webFormsPlugin } from "@getodk/web-forms";
import { createApp, h } from "vue";
import { enqueue, flush, partsOf } from "./outbox.js";
import type { CachedForm } from "./store.js";

/** The instance's `meta/instanceID` (the queue's key, and the box's key against duplicates). */
async function instanceIdOf(data: FormData): Promise<string> {
  const file = data.get("xml_submission_file");
  const xml = file instanceof Blob ? await file.text() : "";
  return /<(?:[\w-]+:)?instanceID>\s*([^<\s]+)\s*</.exec(xml)?.[1] ?? `uuid:${crypto.randomUUID()}`;
}

export interface FormView {
  unmount(): void;
}

/** Mounts `form` into `el`; `onQueued` runs after each filled form is stored. */
export function mountForm(el: HTMLElement, form: CachedForm, onQueued: () => void): FormView {
  const fetchFormAttachment = async (url: URL | string): Promise<Response> => {
    const name = String(url).split("/").pop() ?? "";
    const blob = form.media[decodeURIComponent(name)];
    return blob ? new Response(blob) : new Response(null, { status: 404 });
  };
  const onSubmit = async (payload: MonolithicInstancePayload, done: HostSubmissionResultCallback) => {
    await enqueue({
      instanceID: await instanceIdOf(payload.data[0]),
      formId: form.formId,
      formName: form.name,
      createdAt: new Date().toISOString(),
      parts: partsOf(payload.data[0]),
    });
    done({ next: POST_SUBMIT__NEW_INSTANCE });
    onQueued();
    void flush();
  };
  const app = createApp({
    render: () =>
      h(OdkWebForm, {
        formXml: form.xml,
        fetchFormAttachment,
        missingResourceBehavior: "BLANK",
        trackDevice: true,
        onSubmit,
      }),
  });
  app.use(webFormsPlugin);
  app.mount(el);
  return { unmount: () => app.unmount() };
}

/**
 * Types for @getodk/web-forms 0.22.0, whose npm package ships no .d.ts: only what this app uses, as read
 * from its README and dist/index.js (OdkWebForm's props and its `submit` event's payload).
 */
declare module "@getodk/web-forms" {
  import type { Component, Plugin } from "vue";

  /** `InstanceData` is a FormData: `xml_submission_file` and one entry per attachment. */
  export interface MonolithicInstancePayload {
    payloadType: "monolithic";
    status: "ready" | "pending";
    /** The form's `<submission>` element (action, method, encryption key), not the instance's meta. */
    submissionMeta: unknown;
    data: [FormData];
  }
  export type HostSubmissionResultCallback = (
    result?: { next?: symbol } | Promise<{ next?: symbol }>,
  ) => void;
  export const OdkWebForm: Component;
  export const webFormsPlugin: Plugin;
  export const POST_SUBMIT__NEW_INSTANCE: symbol;
}

/**
 * Drafts: the form being filled is saved to IndexedDB as the user types, and reopened from there (after a
 * reload, a closed tab, a phone that ran out of battery). ODK Web Forms 0.22 offers its host no call to read an
 * unfinished instance, so this reaches the engine's root node through the component tree (`$.subTree`, the
 * props of the component that shows the form's title) and asks it for the same payload "Send" produces, valid
 * or not. A draft is reopened through the component's `editInstance` input, which makes the engine treat it
 * as an edit: it then writes a `deprecatedID`, which a first submission must not carry, so it is removed.
 */
import type { QueuedPart } from "./types.js";

interface EngineRoot {
  prepareInstancePayload(o: { payloadType: "monolithic" }): Promise<{ data: [FormData] }>;
}

export interface VNodeLike {
  component?: { props?: Record<string, unknown>; subTree?: VNodeLike } | null;
  children?: unknown;
}

/** Finds the engine's root node under a mounted component (its internal instance). */
export function findEngineRoot(vnode: VNodeLike | undefined, depth = 0): EngineRoot | null {
  if (!vnode || depth > 200) return null;
  const comp = vnode.component;
  const form = comp?.props?.form as Partial<EngineRoot> | undefined;
  if (form && typeof form.prepareInstancePayload === "function") return form as EngineRoot;
  const inner = comp?.subTree ? findEngineRoot(comp.subTree, depth + 1) : null;
  if (inner) return inner;
  if (Array.isArray(vnode.children)) {
    for (const child of vnode.children) {
      const found = findEngineRoot(child as VNodeLike, depth + 1);
      if (found) return found;
    }
  }
  return null;
}

/** The instance so far (XML and attachments), or null while the form is not loaded. */
export async function snapshot(
  root: EngineRoot | null,
): Promise<{ xml: string; files: QueuedPart[] } | null> {
  if (!root) return null;
  const payload = await root.prepareInstancePayload({ payloadType: "monolithic" });
  let xml = "";
  const files: QueuedPart[] = [];
  for (const [name, value] of payload.data[0].entries()) {
    if (typeof value === "string") continue;
    if (name === "xml_submission_file") xml = await value.text();
    else files.push({ name, blob: value, filename: value.name || name });
  }
  return { xml, files };
}

/** Removes the `deprecatedID` the engine writes when it reopened a draft as an edit. */
export function withoutDeprecatedId(xml: string): string {
  return xml.replace(/<([\w-]+:)?deprecatedID(\s[^>]*)?(\/>|>[^<]*<\/([\w-]+:)?deprecatedID>)/g, "");
}

/**
 * Reading an XForm definition (ODK XForms spec) into what the service needs: its id, version and title, the
 * fields of its primary instance (type from the binds, required, relevance, repeats) and the media files it
 * references. Refuses what ODK clients could not use: no primary instance id, no meta/instanceID, binds or
 * body refs to nodes that do not exist, unknown bind types.
 */
import { createHash } from "node:crypto";
import { child, parseXml, XmlError, type XmlNode } from "./xml.js";

/** One node of the primary instance. */
export interface FieldDef {
  /** Absolute path, e.g. `/data/group/name`. */
  path: string;
  name: string;
  /** The bind's type (`string` when none), `group` or `repeat` for nodes with children. */
  type: string;
  required: boolean;
  /** It or an ancestor has a `relevant`: may be absent from a submission. */
  conditional: boolean;
  /** Inside a repeat (or a repeat itself). */
  inRepeat: boolean;
  /** The nearest ancestor's path. */
  parent: string | null;
}

export interface FormDef {
  formId: string;
  version: string;
  title: string;
  rootName: string;
  fields: FieldDef[];
  /** File names the form references (jr://images/…, jr://file-csv/…): its form attachments. */
  mediaFiles: string[];
}

export const BIND_TYPES = new Set([
  "string",
  "int",
  "integer",
  "decimal",
  "date",
  "time",
  "dateTime",
  "geopoint",
  "geotrace",
  "geoshape",
  "binary",
  "barcode",
  "select",
  "select1",
  "boolean",
  "intent",
  "rank",
]);
/** A safe form-attachment / submission-attachment file name: no path, no control characters. */
export const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}$/;
export const FORM_ID = /^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/;

/** md5 of the definition as OpenRosa's formList `hash` wants it. */
export function md5(data: string | Buffer): string {
  return createHash("md5").update(data).digest("hex");
}

/** Parses and checks an XForm; throws XmlError with a readable message. */
export function readXForm(xml: string): FormDef {
  const html = parseXml(xml);
  if (html.name !== "html") throw new XmlError(`an XForm's root is h:html, not ${html.name}`);
  const head = child(html, "head");
  const model = child(head, "model");
  if (!head || !model) throw new XmlError("an XForm needs h:head/model");
  const title = child(head, "title")?.text.trim() ?? "";
  const instances = model.children.filter((c) => c.name === "instance");
  const primary = instances.find((i) => !i.attrs.id) ?? instances[0];
  const root = primary?.children[0];
  if (!root) throw new XmlError("the model has no primary instance");
  const formId = root.attrs.id ?? "";
  if (!FORM_ID.test(formId))
    throw new XmlError(`the primary instance's id must be a form id (letters, digits, _ . -): "${formId}"`);
  const version = root.attrs.version ?? "";
  if (version.length > 100) throw new XmlError("the form version is longer than 100 characters");
  const fields = instanceFields(root);
  const byPath = new Map(fields.map((f) => [f.path, f]));
  if (!byPath.has(`/${root.name}/meta/instanceID`))
    throw new XmlError(
      `the form needs /${root.name}/meta/instanceID (ODK clients identify submissions by it)`,
    );
  applyBinds(model, byPath);
  markRepeats(child(html, "body"), byPath);
  inheritConditions(fields, byPath);
  const media = mediaOf(xml, instances);
  return { formId, version, title: title || formId, rootName: root.name, fields, mediaFiles: media };
}

function instanceFields(root: XmlNode): FieldDef[] {
  const out: FieldDef[] = [];
  const walk = (node: XmlNode, path: string, parent: string | null) => {
    if (out.some((f) => f.path === path)) return; // a repeat's template and its instances share one path
    const group = node.children.length > 0;
    out.push({
      path,
      name: node.name,
      type: group ? (node.attrs.template !== undefined ? "repeat" : "group") : "string",
      required: false,
      conditional: false,
      inRepeat: false,
      parent,
    });
    for (const c of node.children) walk(c, `${path}/${c.name}`, path);
  };
  walk(root, `/${root.name}`, null);
  return out;
}

function applyBinds(model: XmlNode, byPath: Map<string, FieldDef>) {
  for (const bind of model.children.filter((c) => c.name === "bind")) {
    const ref = bind.attrs.nodeset ?? bind.attrs.ref ?? "";
    const f = byPath.get(ref);
    if (!f) throw new XmlError(`a bind refers to ${ref || "nothing"}, which is not in the primary instance`);
    const type = (bind.attrs.type ?? "").replace(/^(xsd|odk):/, "");
    if (type && !BIND_TYPES.has(type))
      throw new XmlError(`the bind for ${ref} has an unknown type "${type}"`);
    if (type && f.type !== "group" && f.type !== "repeat") f.type = type === "integer" ? "int" : type;
    if (/^true\(\)$/.test((bind.attrs.required ?? "").trim())) f.required = true;
    if ((bind.attrs.relevant ?? "").trim()) f.conditional = true;
  }
}

function markRepeats(body: XmlNode | undefined, byPath: Map<string, FieldDef>) {
  const walk = (n: XmlNode) => {
    if (n.name === "itemset") return; // its refs are relative to a secondary instance
    const ref = n.attrs.nodeset ?? n.attrs.ref;
    if (ref?.startsWith("/") && n.name !== "label" && n.name !== "hint") {
      const f = byPath.get(ref);
      if (!f)
        throw new XmlError(`the body's ${n.name} refers to ${ref}, which is not in the primary instance`);
      if (n.name === "repeat") f.type = "repeat";
    }
    for (const c of n.children) walk(c);
  };
  if (body) walk(body);
}

function inheritConditions(fields: FieldDef[], byPath: Map<string, FieldDef>) {
  for (const f of fields) {
    const parent = f.parent ? byPath.get(f.parent) : undefined;
    if (parent?.conditional) f.conditional = true;
    if (f.type === "repeat" || parent?.inRepeat || parent?.type === "repeat") f.inRepeat = true;
  }
}

function mediaOf(xml: string, instances: XmlNode[]): string[] {
  const names = new Set<string>();
  for (const m of xml.matchAll(/jr:\/\/(?:images|audio|video|file|file-csv)\/([^"'<\s]+)/g)) names.add(m[1]!);
  for (const i of instances) {
    const src = i.attrs.src ?? "";
    const m = /^jr:\/\/file(?:-csv)?\/(.+)$/.exec(src);
    if (m) names.add(m[1]!);
  }
  for (const n of names) {
    if (!FILE_NAME.test(n))
      throw new XmlError(`the form references a media file with an unsafe name: "${n}"`);
  }
  return [...names].sort();
}

/**
 * Checking a submission's XML against its form version before anything is stored: the root must be the
 * form's, every element a field of the form, values of the declared types, required fields present, repeats
 * within bounds, and attachments only those the submission's binary fields name. Pure: returns the parsed
 * facts or throws SubmissionError (status + message naming the field).
 */
import { FILE_NAME, type FieldDef, type FormDef } from "./xform.js";
import { parseXml, XmlError, type XmlNode } from "./xml.js";

export class SubmissionError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 413,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "SubmissionError";
  }
}

export interface CheckedSubmission {
  instanceId: string;
  formId: string;
  version: string;
  /** Attachment file names the binary fields name. */
  attachments: string[];
  /** Leaf values by path (first occurrence; repeats flattened with [n] indexes), for exports. */
  values: Record<string, string>;
  instanceName: string | null;
  /** meta/deprecatedID: the instanceID this submission edits (ODK Collect's and Enketo's edit), or null. */
  deprecatedId: string | null;
}

export interface CheckLimits {
  maxRepeats: number;
  maxElements: number;
}

const NUM_INT = /^-?\d{1,18}$/;
const NUM_DEC = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Reads the root's form id and version only (to find the form version before the full check). */
export function submissionHeader(root: XmlNode): { formId: string; version: string } {
  return { formId: root.attrs.id ?? "", version: root.attrs.version ?? "" };
}

/** Parses submission XML; XML bombs, DOCTYPEs and oversize trees → 400/413. */
export function parseSubmission(xml: string, limits: CheckLimits): XmlNode {
  try {
    return parseXml(xml, { maxElements: limits.maxElements });
  } catch (err) {
    if (err instanceof XmlError) {
      throw new SubmissionError(/more than/.test(err.message) ? 413 : 400, `submission: ${err.message}`);
    }
    throw err;
  }
}

/** Checks a parsed submission against `def`. */
export function checkSubmission(root: XmlNode, def: FormDef, limits: CheckLimits): CheckedSubmission {
  if (root.name !== def.rootName)
    throw new SubmissionError(
      400,
      `the submission's root is <${root.name}>, the form's is <${def.rootName}>`,
    );
  const byPath = new Map(def.fields.map((f) => [f.path, f]));
  const kids = new Map<string, FieldDef[]>();
  for (const f of def.fields) if (f.parent) kids.set(f.parent, [...(kids.get(f.parent) ?? []), f]);
  const out: CheckedSubmission = {
    instanceId: "",
    formId: def.formId,
    version: def.version,
    attachments: [],
    values: {},
    instanceName: null,
    deprecatedId: null,
  };
  // Clients add meta/deprecatedID when they edit a sent submission, whether or not the form declares it.
  const deprecated = `/${root.name}/meta/deprecatedID`;
  if (!byPath.has(deprecated) && byPath.has(`/${root.name}/meta`))
    byPath.set(deprecated, {
      path: deprecated,
      name: "deprecatedID",
      type: "string",
      required: false,
      conditional: true,
      inRepeat: false,
      parent: `/${root.name}/meta`,
    });
  const walk = (node: XmlNode, path: string, shown: string) => {
    const counts = new Map<string, number>();
    for (const c of node.children) {
      const p = `${path}/${c.name}`;
      const f = byPath.get(p);
      if (!f) throw new SubmissionError(400, `unknown field ${p}: the form has no such question`, p);
      const n = (counts.get(c.name) ?? 0) + 1;
      counts.set(c.name, n);
      if (f.type === "repeat") {
        if (n > limits.maxRepeats)
          throw new SubmissionError(413, `repeat ${p} has more than ${limits.maxRepeats} instances`, p);
      } else if (n > 1) throw new SubmissionError(400, `field ${p} appears more than once`, p);
      const s = f.type === "repeat" ? `${shown}/${c.name}[${n}]` : `${shown}/${c.name}`;
      if (f.type === "group" || f.type === "repeat") walk(c, p, s);
      else leaf(c, f, s, out);
    }
    for (const f of kids.get(path) ?? []) {
      if (!f.required || f.conditional || f.type === "group" || f.type === "repeat") continue;
      const el = node.children.find((c) => c.name === f.name);
      if (!el?.text.trim())
        throw new SubmissionError(400, `required field ${f.path} is missing or empty`, f.path);
    }
  };
  walk(root, `/${root.name}`, `/${root.name}`);
  const idPath = `/${root.name}/meta/instanceID`;
  out.instanceId = out.values[idPath] ?? "";
  if (!/^[A-Za-z0-9:_.-]{1,128}$/.test(out.instanceId))
    throw new SubmissionError(
      400,
      `${idPath} must be present (e.g. uuid:…; letters, digits, : _ . -)`,
      idPath,
    );
  out.instanceName = out.values[`/${root.name}/meta/instanceName`] ?? null;
  const dep = out.values[deprecated]?.trim();
  if (dep) {
    if (!/^[A-Za-z0-9:_.-]{1,128}$/.test(dep))
      throw new SubmissionError(400, `${deprecated} is not an instanceID`, deprecated);
    if (dep === out.instanceId)
      throw new SubmissionError(
        400,
        `${deprecated} equals the instanceID: an edit needs a new one`,
        deprecated,
      );
    out.deprecatedId = dep;
  }
  return out;
}

function leaf(el: XmlNode, f: FieldDef, shown: string, out: CheckedSubmission) {
  if (el.children.length)
    throw new SubmissionError(
      400,
      `field ${f.path} is a question, not a group: it has child elements`,
      f.path,
    );
  const v = el.text.trim();
  out.values[shown] = v;
  if (!v) return;
  const bad = (what: string) =>
    new SubmissionError(400, `field ${f.path}: "${v.slice(0, 40)}" is not ${what}`, f.path);
  switch (f.type) {
    case "int":
      if (!NUM_INT.test(v)) throw bad("an integer");
      break;
    case "decimal":
      if (!NUM_DEC.test(v)) throw bad("a decimal number");
      break;
    case "date":
      if (!DATE.test(v) || Number.isNaN(Date.parse(v))) throw bad("a date (YYYY-MM-DD)");
      break;
    case "time":
      if (!TIME.test(v)) throw bad("a time (HH:MM:SS)");
      break;
    case "dateTime":
      if (!DATETIME.test(v)) throw bad("a dateTime");
      break;
    case "boolean":
      if (!/^(true|false|1|0)$/.test(v)) throw bad("a boolean");
      break;
    case "geopoint":
      if (!isGeopoint(v)) throw bad("a geopoint (lat lon [alt [accuracy]])");
      break;
    case "geotrace":
    case "geoshape":
      if (!v.split(";").every((p) => isGeopoint(p.trim())))
        throw bad(`a ${f.type} (geopoints separated by ;)`);
      break;
    case "binary":
      if (!FILE_NAME.test(v)) throw bad("a file name");
      out.attachments.push(v);
      break;
  }
}

/** `lat lon [alt [accuracy]]` with lat in [-90, 90] and lon in [-180, 180]. */
export function isGeopoint(v: string): boolean {
  const parts = v.split(/\s+/).map(Number);
  if (parts.length < 2 || parts.length > 4 || parts.some((n) => !Number.isFinite(n))) return false;
  return Math.abs(parts[0]!) <= 90 && Math.abs(parts[1]!) <= 180;
}

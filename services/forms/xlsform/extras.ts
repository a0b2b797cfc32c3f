/**
 * The XLSForm columns and type modifiers beyond the core (pure, as pyxform writes them): `or_other` (an
 * "other" choice and a `<name>_other` text question shown when it is chosen), `range` with its `parameters`,
 * `rank`, `repeat_count` (a number, a reference, or an expression through a generated calculate),
 * `media::image|audio|video` (and their `::lang` columns) as itext media forms, and translated
 * `constraint_message` / `required_message`. Errors are cell-addressed like the rest of the converter.
 */
import { checkExpression } from "./expr.js";
import type { Choice, QNode, Texts } from "./model.js";
import { cellOf, type Sheet, type SheetRow } from "./sheets.js";
import { TYPES } from "./types.js";

export const MEDIA_KINDS = ["image", "audio", "video"] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

/** `select_one yn or_other` → the list name and whether "or_other" was given. */
export function splitOrOther(arg: string | null): { list: string | null; orOther: boolean } {
  const m = /^(.*\S)\s+or_other$/.exec(arg ?? "");
  return m ? { list: m[1]!, orOther: true } : { list: arg, orOther: false };
}

/** The list an or_other question uses: its list plus an "other" choice (a copy, the original unchanged). */
export function orOtherList(choices: Map<string, Choice[]>, list: string): string {
  const name = `${list}_or_other`;
  if (!choices.has(name))
    choices.set(name, [...(choices.get(list) ?? []), { name: "other", labels: { "": "Other" }, extra: {} }]);
  return name;
}

/** The `<name>_other` text question pyxform adds after an or_other select. */
export function otherQuestion(node: QNode, parentPath: string): QNode {
  const name = `${node.name}_other`;
  return {
    kind: "question",
    name,
    path: `${parentPath}/${name}`,
    row: node.row,
    type: TYPES.text,
    labels: { "": "Specify other." },
    hints: {},
    bind: { relevant: `selected(${node.path}, 'other')` },
    children: [],
  };
}

/** Reads a range's `parameters` (start, end, step; pyxform's defaults 1, 10, 1) onto `node`. */
export function rangeOf(node: QNode, s: Sheet, r: SheetRow, errors: string[]): void {
  const p: Record<string, string> = { start: "1", end: "10", step: "1" };
  for (const part of (r.values.parameters ?? "").split(/[\s;,]+/).filter(Boolean)) {
    const [k = "", v = ""] = part.split("=").map((x) => x.trim());
    if (!(k in p) || !/^-?\d+(\.\d+)?$/.test(v)) {
      errors.push(`${cellOf(s, r, "parameters")}: "${part}" is not a range parameter (start=, end=, step=)`);
      return;
    }
    p[k] = v;
  }
  if (Number(p.step) <= 0 || Number(p.end) === Number(p.start))
    errors.push(`${cellOf(s, r, "parameters")}: a range needs start ≠ end and a positive step`);
  const decimal = Object.values(p).some((v) => v.includes("."));
  node.type = { bind: decimal ? "decimal" : "int", control: "range" };
  node.range = { start: p.start!, end: p.end!, step: p.step! };
}

/**
 * A repeat's `repeat_count`: a number or `${ref}` goes straight into jr:count; another expression gets a
 * generated calculate `<repeat>_count` beside the repeat (returned, for the caller to add before it).
 */
export function repeatCountOf(
  node: QNode,
  parentPath: string,
  s: Sheet,
  paths: ReadonlyMap<string, string>,
  errors: string[],
): QNode | null {
  const raw = node.row.values.repeat_count?.trim();
  if (!raw) return null;
  const at = cellOf(s, node.row, "repeat_count");
  const e = checkExpression(raw, at, paths, errors);
  if (/^\d+$/.test(raw) || /^\$\{[^}]+\}$/.test(raw)) {
    node.repeatCount = e;
    return null;
  }
  const name = `${node.name}_count`;
  if (paths.has(name)) {
    errors.push(`${at}: the generated question "${name}" clashes with a question of that name`);
    return null;
  }
  const calc: QNode = {
    kind: "question",
    name,
    path: `${parentPath}/${name}`,
    row: node.row,
    type: TYPES.calculate,
    labels: {},
    hints: {},
    bind: { calculate: e },
    children: [],
  };
  node.repeatCount = calc.path;
  return calc;
}

/** A row's media columns (`media::image`, `image`, each with `::lang`) by kind; undefined when none. */
export function mediaOf(values: Record<string, string>): Partial<Record<MediaKind, Texts>> | undefined {
  const out: Partial<Record<MediaKind, Texts>> = {};
  for (const [k, v] of Object.entries(values)) {
    const m = /^(?:media::)?(image|audio|video)(?:::(.+))?$/.exec(k);
    if (!m) continue;
    const kind = m[1] as MediaKind;
    out[kind] = { ...out[kind], [m[2]?.trim() ?? ""]: v };
  }
  return Object.keys(out).length ? out : undefined;
}

/** Cell-addressed errors for media file names clients could not fetch. */
export function checkMediaNames(
  media: Partial<Record<MediaKind, Texts>>,
  s: Sheet,
  r: SheetRow,
  errors: string[],
) {
  for (const [kind, texts] of Object.entries(media))
    for (const [lang, file] of Object.entries(texts ?? {}))
      if (!/^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}$/.test(file))
        errors.push(
          `${cellOf(s, r, lang ? `media::${kind}::${lang}` : `media::${kind}`)}: "${file}" is not a plain file name`,
        );
}

/**
 * XLSForm sheets → a question tree (pure). Checks every row and collects every error with its cell:
 * unknown types, bad or duplicate names, unbalanced groups and repeats, unknown choice lists, bad expressions.
 */
import { createHash } from "node:crypto";
import { XlsFormError } from "./errors.js";
import { checkExpression } from "./expr.js";
import {
  checkMediaNames,
  mediaOf,
  orOtherList,
  otherQuestion,
  rangeOf,
  repeatCountOf,
  splitOrOther,
} from "./extras.js";
import { type Choice, type FormModel, type QNode, ROOT, type Texts } from "./model.js";
import { cellOf, type Sheet, type SheetRow, type Workbook } from "./sheets.js";
import { parseType, TYPES } from "./types.js";
import { writeXForm } from "./write-xform.js";

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
/** Texts of a row for a column (`label`, `label::English (en)`, …), by language ("" without one). */
function textsOf(values: Record<string, string>, col: string): Texts {
  const out: Texts = {};
  for (const [k, v] of Object.entries(values)) {
    if (k === col) out[""] = v;
    else if (k.startsWith(`${col}::`)) out[k.slice(col.length + 2).trim()] = v;
  }
  return out;
}

function languagesOf(sheets: (Sheet | undefined)[]): string[] {
  const langs = new Set<string>();
  for (const s of sheets)
    for (const h of Object.keys(s?.columns ?? {})) {
      const m =
        /^(?:label|hint|constraint_message|required_message|(?:media::)?(?:image|audio|video))::(.+)$/.exec(
          h,
        );
      if (m) langs.add(m[1]!.trim());
    }
  return [...langs];
}

function readChoices(s: Sheet | undefined, errors: string[]): Map<string, Choice[]> {
  const lists = new Map<string, Choice[]>();
  for (const r of s?.rows ?? []) {
    const list = r.values.list_name;
    const name = r.values.name;
    if (!list) {
      errors.push(`${cellOf(s!, r, "list_name")}: a choice needs a list_name`);
      continue;
    }
    if (!name) {
      errors.push(`${cellOf(s!, r, "name")}: a choice needs a name`);
      continue;
    }
    const items = lists.get(list) ?? [];
    if (items.some((c) => c.name === name))
      errors.push(`${cellOf(s!, r, "name")}: duplicate choice "${name}" in list ${list}`);
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.values))
      if (k !== "list_name" && k !== "name" && !k.startsWith("label") && NAME.test(k)) extra[k] = v;
    items.push({ name, labels: textsOf(r.values, "label"), extra });
    lists.set(list, items);
  }
  return lists;
}

function settingsOf(s: Sheet | undefined): Record<string, string> {
  return s?.rows[0]?.values ?? {};
}

/** Converts a workbook to XForm XML; throws XlsFormError with every error found. */
export function convertWorkbook(wb: Workbook): { xml: string; warnings: string[] } {
  const model = buildModel(wb);
  return { xml: writeXForm(model.model), warnings: model.warnings };
}

/** Builds the question tree; throws XlsFormError listing every problem. */
export function buildModel(wb: Workbook): { model: FormModel; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const survey = wb.survey;
  if (!survey?.rows.length) throw new XlsFormError(["the workbook needs a survey sheet with questions"]);
  if (!survey.columns.type) throw new XlsFormError(["survey!1: the survey sheet needs a type column"]);
  const choices = readChoices(wb.choices, errors);
  const settings = settingsOf(wb.settings);
  const title = settings.form_title ?? settings.title ?? settings.form_id ?? "Untitled form";
  const formId =
    settings.form_id ??
    (title
      .replace(/[^A-Za-z0-9_]+/g, "_")
      .replace(/^[^A-Za-z_]+/, "")
      .slice(0, 64) ||
      "form");
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/.test(formId))
    errors.push(`settings!form_id: "${formId}" is not a valid form id (letters, digits, _ . -)`);
  const stack: QNode[] = [
    {
      kind: "group",
      name: ROOT,
      path: `/${ROOT}`,
      row: { row: 1, values: {} },
      labels: {},
      hints: {},
      bind: {},
      children: [],
    },
  ];
  const paths = new Map<string, string>();
  const pending: { node: QNode; r: SheetRow; parent: QNode }[] = [];
  for (const r of survey.rows) {
    const rawType = r.values.type;
    if (!rawType) {
      if (r.values.name || r.values.label)
        errors.push(`${cellOf(survey, r, "type")}: a row with a name or label needs a type`);
      continue;
    }
    const { base, arg } = parseType(rawType);
    const parent = stack.at(-1)!;
    if (base === "end_group" || base === "end_repeat") {
      const want = base === "end_group" ? "group" : "repeat";
      if (stack.length === 1 || parent.kind !== want) {
        errors.push(`${cellOf(survey, r, "type")}: "${rawType}" without a matching begin ${want}`);
        continue;
      }
      stack.pop();
      continue;
    }
    const name = r.values.name ?? "";
    if (!NAME.test(name)) {
      errors.push(
        `${cellOf(survey, r, "name")}: "${name}" is not a valid name (a letter or _, then letters, digits, _ . -)`,
      );
      continue;
    }
    if (paths.has(name) || name === "meta") {
      errors.push(`${cellOf(survey, r, "name")}: duplicate name "${name}"`);
      continue;
    }
    const node: QNode = {
      kind: "question",
      name,
      path: `${parent.path}/${name}`,
      row: r,
      labels: textsOf(r.values, "label"),
      hints: textsOf(r.values, "hint"),
      bind: {},
      appearance: r.values.appearance,
      default: r.values.default,
      media: mediaOf(r.values),
      children: [],
    };
    if (node.media) checkMediaNames(node.media, survey, r, errors);
    if (base === "begin_group" || base === "begin_repeat") {
      node.kind = base === "begin_group" ? "group" : "repeat";
      stack.push(node);
    } else if (!typeFor(node, base, arg, choices, survey, r, errors)) continue;
    paths.set(name, node.path);
    parent.children.push(node);
    pending.push({ node, r, parent });
    if (/\sor_other$/.test(rawType.trim())) {
      const other = otherQuestion(node, parent.path);
      if (paths.has(other.name)) errors.push(`${cellOf(survey, r, "name")}: duplicate name "${other.name}"`);
      paths.set(other.name, other.path);
      parent.children.push(other);
    }
  }
  for (const open of stack.slice(1))
    errors.push(`${cellOf(survey, open.row, "type")}: begin ${open.kind} "${open.name}" is never ended`);
  for (const { node, r, parent } of pending) {
    bindsOf(node, r, survey, paths, errors);
    if (node.kind !== "repeat") continue;
    const calc = repeatCountOf(node, parent.path, survey, paths, errors);
    if (calc) parent.children.splice(parent.children.indexOf(node), 0, calc);
  }
  if (settings.instance_name)
    settings.instance_name = checkExpression(settings.instance_name, "settings!instance_name", paths, errors);
  if (errors.length) throw new XlsFormError(errors);
  const version = settings.version ?? autoVersion(wb);
  if (!settings.version)
    warnings.push(`settings: no version given; using "${version}" (a hash of the survey)`);
  const langs = languagesOf([survey, wb.choices]);
  // Media need itext; a form without languages gets one translation, "default", as pyxform writes it.
  if (!langs.length && pending.some((p) => p.node.media)) langs.push("default");
  return {
    model: {
      formId,
      version,
      title,
      languages: langs,
      defaultLanguage: settings.default_language ?? langs[0] ?? null,
      instanceName: settings.instance_name,
      root: stack[0]!.children,
      choices,
    },
    warnings,
  };
}

function typeFor(
  node: QNode,
  base: string,
  arg: string | null,
  choices: Map<string, Choice[]>,
  survey: Sheet,
  r: SheetRow,
  errors: string[],
): boolean {
  const fromFile = /^select_(one|multiple)_from_file$/.exec(base);
  if (base === "range") {
    rangeOf(node, survey, r, errors);
    return true;
  }
  if (base === "select_one" || base === "select_multiple" || base === "rank" || fromFile) {
    const split = splitOrOther(arg);
    const orOther = split.orOther && !fromFile && base !== "rank";
    if (orOther) arg = split.list;
    if (!arg) {
      errors.push(`${cellOf(survey, r, "type")}: "${base}" needs a list name`);
      return false;
    }
    if (fromFile && !/^[A-Za-z0-9_.-]+\.(csv|xml|geojson)$/.test(arg)) {
      errors.push(`${cellOf(survey, r, "type")}: "${arg}" is not a .csv, .xml or .geojson file name`);
      return false;
    }
    if (!fromFile && !choices.has(arg)) {
      errors.push(`${cellOf(survey, r, "type")}: list "${arg}" is not in the choices sheet`);
      return false;
    }
    const multiple = base.startsWith("select_multiple");
    if (base === "rank") {
      node.type = TYPES.rank;
      node.select = { list: arg, multiple: true, file: false, rank: true };
      return true;
    }
    node.type = TYPES[multiple ? "select_multiple" : "select_one"];
    node.select = { list: orOther ? orOtherList(choices, arg) : arg, multiple, file: !!fromFile };
    return true;
  }
  const t = TYPES[base];
  if (!t) {
    errors.push(`${cellOf(survey, r, "type")}: unknown type "${r.values.type}"`);
    return false;
  }
  node.type = t;
  return true;
}

function bindsOf(node: QNode, r: SheetRow, s: Sheet, paths: Map<string, string>, errors: string[]) {
  const x = (col: string) => {
    const v = r.values[col];
    return v === undefined ? undefined : checkExpression(v, cellOf(s, r, col), paths, errors);
  };
  const req = r.values.required?.trim();
  if (req && /^(yes|true|true\(\)|1)$/i.test(req)) node.bind.required = "true()";
  else if (req && !/^(no|false|false\(\)|0)$/i.test(req)) node.bind.required = x("required")!;
  for (const [col, attr] of [
    ["relevant", "relevant"],
    ["constraint", "constraint"],
    ["calculation", "calculate"],
  ] as const) {
    const v = x(col);
    if (v !== undefined) node.bind[attr] = v;
  }
  for (const [col, at] of [
    ["constraint_message", "jr:constraintMsg"],
    ["required_message", "jr:requiredMsg"],
  ] as const) {
    const texts = textsOf(r.values, col);
    if (Object.keys(texts).length) node.messages = { ...node.messages, [at]: texts };
  }
  if (r.values.read_only && /^(yes|true)$/i.test(r.values.read_only)) node.bind.readonly = "true()";
  if (r.values.choice_filter) node.choiceFilter = x("choice_filter");
  if (
    node.type?.bind === "string" &&
    node.type.control === null &&
    !node.type.preload &&
    !node.bind.calculate
  )
    errors.push(`${cellOf(s, r, "calculation")}: a calculate needs a calculation`);
}

function autoVersion(wb: Workbook): string {
  return createHash("sha256").update(JSON.stringify(wb)).digest("hex").slice(0, 10);
}

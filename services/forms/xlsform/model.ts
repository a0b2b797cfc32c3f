/** The question tree the converter builds from the sheets and the XForm writer writes. */
import type { SheetRow } from "./sheets.js";
import type { TypeInfo } from "./types.js";

export const ROOT = "data";

export type Texts = Record<string, string>;

export interface QNode {
  kind: "question" | "group" | "repeat";
  name: string;
  path: string;
  row: SheetRow;
  type?: TypeInfo;
  select?: { list: string; multiple: boolean; file: boolean };
  labels: Texts;
  hints: Texts;
  bind: Record<string, string>;
  appearance?: string;
  default?: string;
  choiceFilter?: string;
  children: QNode[];
}

export interface Choice {
  name: string;
  labels: Texts;
  extra: Record<string, string>;
}

export interface FormModel {
  formId: string;
  version: string;
  title: string;
  languages: string[];
  defaultLanguage: string | null;
  instanceName?: string;
  root: QNode[];
  choices: Map<string, Choice[]>;
}

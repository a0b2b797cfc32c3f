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
  select?: { list: string; multiple: boolean; file: boolean; rank?: boolean };
  /** A range's start, end and step. */
  range?: { start: string; end: string; step: string };
  /** A repeat's jr:count (a number or an absolute path). */
  repeatCount?: string;
  /** Label media by kind and language (`media::image::French (fr)`). */
  media?: Partial<Record<"image" | "audio" | "video", Texts>>;
  /** Translated constraint and required messages (`constraint_message::lang`). */
  messages?: Partial<Record<"jr:constraintMsg" | "jr:requiredMsg", Texts>>;
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

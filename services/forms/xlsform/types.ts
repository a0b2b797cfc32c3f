/** XLSForm question types and what each becomes in the XForm. */

export interface TypeInfo {
  /** The bind type. */
  bind: string;
  /** The body control; null for none (calculate, meta). */
  control: "input" | "select1" | "select" | "upload" | "trigger" | "range" | `odk:rank` | null;
  mediatype?: string;
  readonly?: boolean;
  /** jr:preload and jr:preloadParams for metadata. */
  preload?: [string, string];
}

export const TYPES: Readonly<Record<string, TypeInfo>> = {
  text: { bind: "string", control: "input" },
  string: { bind: "string", control: "input" },
  integer: { bind: "int", control: "input" },
  int: { bind: "int", control: "input" },
  decimal: { bind: "decimal", control: "input" },
  date: { bind: "date", control: "input" },
  time: { bind: "time", control: "input" },
  datetime: { bind: "dateTime", control: "input" },
  geopoint: { bind: "geopoint", control: "input" },
  geotrace: { bind: "geotrace", control: "input" },
  geoshape: { bind: "geoshape", control: "input" },
  image: { bind: "binary", control: "upload", mediatype: "image/*" },
  photo: { bind: "binary", control: "upload", mediatype: "image/*" },
  audio: { bind: "binary", control: "upload", mediatype: "audio/*" },
  video: { bind: "binary", control: "upload", mediatype: "video/*" },
  file: { bind: "binary", control: "upload", mediatype: "application/*" },
  barcode: { bind: "barcode", control: "input" },
  note: { bind: "string", control: "input", readonly: true },
  calculate: { bind: "string", control: null },
  acknowledge: { bind: "string", control: "trigger" },
  trigger: { bind: "string", control: "trigger" },
  start: { bind: "dateTime", control: null, preload: ["timestamp", "start"] },
  end: { bind: "dateTime", control: null, preload: ["timestamp", "end"] },
  today: { bind: "date", control: null, preload: ["date", "today"] },
  deviceid: { bind: "string", control: null, preload: ["property", "deviceid"] },
  select_one: { bind: "string", control: "select1" },
  select_multiple: { bind: "string", control: "select" },
  range: { bind: "int", control: "range" },
  rank: { bind: `odk:rank`, control: `odk:rank` },
};

/** Splits a type cell: `select_one yes_no` → ["select_one", "yes_no"], `begin group` → ["begin_group"]. */
export function parseType(raw: string): { base: string; arg: string | null } {
  const t = raw.trim().replace(/\s+/g, " ").toLowerCase();
  const m = /^(begin|end)[ _](group|repeat)$/.exec(t);
  if (m) return { base: `${m[1]}_${m[2]}`, arg: null };
  const parts = raw.trim().split(/\s+/);
  const base = parts[0]!.toLowerCase();
  if (
    base === "select_one" ||
    base === "select_multiple" ||
    base === "rank" ||
    /^select_(one|multiple)_from_file$/.test(base)
  )
    return { base, arg: parts.slice(1).join(" ") || null };
  return { base: t, arg: null };
}

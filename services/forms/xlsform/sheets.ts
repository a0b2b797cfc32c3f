/** The workbook as plain data (what read.ts makes of an .xlsx, and what tests write directly). */

/** One data row: its 1-based row number and its cells by lower-cased header. */
export interface SheetRow {
  row: number;
  values: Record<string, string>;
}

export interface Sheet {
  name: string;
  /** Header (lower-cased, trimmed) → column letter, for cell addresses in errors. */
  columns: Record<string, string>;
  rows: SheetRow[];
}

export interface Workbook {
  survey?: Sheet;
  choices?: Sheet;
  settings?: Sheet;
}

/** A header as a key: the column name lower-cased, a `::language` suffix kept as written. */
export function headerKey(h: string): string {
  const [col, ...lang] = h.trim().split("::");
  return lang.length ? `${col!.trim().toLowerCase()}::${lang.join("::").trim()}` : col!.toLowerCase();
}

/** `A`…`Z`, `AA`… for a 1-based column number. */
export function columnLetter(n: number): string {
  let s = "";
  for (let x = n; x > 0; x = Math.floor((x - 1) / 26)) s = String.fromCharCode(65 + ((x - 1) % 26)) + s;
  return s;
}

/** Builds a sheet from a header row and data rows (row numbers start at 2); tests use it. */
export function sheet(name: string, header: string[], data: (string | undefined)[][]): Sheet {
  const columns: Record<string, string> = {};
  header.forEach((h, i) => {
    columns[headerKey(h)] = columnLetter(i + 1);
  });
  const rows = data.map((cells, i) => {
    const values: Record<string, string> = {};
    header.forEach((h, j) => {
      const v = cells[j];
      if (v !== undefined && v !== "") values[headerKey(h)] = v;
    });
    return { row: i + 2, values };
  });
  return { name, columns, rows };
}

/** The address of a row's cell under `header` (`survey!B7`), or the row (`survey!7`) when there is no such column. */
export function cellOf(s: Sheet, r: SheetRow | number, header: string): string {
  const row = typeof r === "number" ? r : r.row;
  return `${s.name}!${s.columns[header] ?? ""}${row}`;
}

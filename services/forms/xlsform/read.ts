/** Reading an .xlsx (exceljs) into the plain Workbook the converter takes. */
import ExcelJS from "exceljs";
import { convertWorkbook } from "./convert.js";
import { XlsFormError } from "./errors.js";
import { columnLetter, headerKey, type Sheet, type Workbook } from "./sheets.js";

const MAX_ROWS = 20_000;

function cellText(v: ExcelJS.CellValue): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") {
    if ("richText" in v) return v.richText.map((t) => t.text).join("");
    if ("result" in v) return v.result === undefined ? "" : String(v.result);
    if ("text" in v) return String(v.text);
    if (v instanceof Date) return v.toISOString();
    return "";
  }
  return String(v);
}

function readSheet(ws: ExcelJS.Worksheet, name: string): Sheet {
  if (ws.rowCount > MAX_ROWS) throw new XlsFormError([`${name}: more than ${MAX_ROWS} rows`]);
  const columns: Record<string, string> = {};
  const headers: string[] = [];
  ws.getRow(1).eachCell({ includeEmpty: false }, (cell, col) => {
    const h = headerKey(cellText(cell.value));
    headers[col] = h;
    if (h) columns[h] = columnLetter(col);
  });
  const rows: Sheet["rows"] = [];
  ws.eachRow({ includeEmpty: false }, (r, rowNumber) => {
    if (rowNumber === 1) return;
    const values: Record<string, string> = {};
    r.eachCell({ includeEmpty: false }, (cell, col) => {
      const h = headers[col];
      const text = cellText(cell.value).trim();
      if (h && text) values[h] = text;
    });
    if (Object.keys(values).length) rows.push({ row: rowNumber, values });
  });
  return { name, columns, rows };
}

/** Reads an XLSForm workbook (bytes of an .xlsx). */
export async function readWorkbook(data: Buffer): Promise<Workbook> {
  const wb = new ExcelJS.Workbook();
  try {
    await wb.xlsx.load(data as unknown as ArrayBuffer);
  } catch (err) {
    throw new XlsFormError([`not a readable .xlsx workbook: ${(err as Error).message.slice(0, 200)}`]);
  }
  const out: Workbook = {};
  wb.eachSheet((ws) => {
    const name = ws.name.trim().toLowerCase();
    if (name === "survey" || name === "choices" || name === "settings") out[name] = readSheet(ws, name);
  });
  return out;
}

/** XLSForm bytes → XForm XML (throws XlsFormError with cell-addressed errors). */
export async function xlsformToXForm(data: Buffer): Promise<{ xml: string; warnings: string[] }> {
  return convertWorkbook(await readWorkbook(data));
}

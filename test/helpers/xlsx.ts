/** Writes real .xlsx XLSForms with exceljs for tests: sheets as header + rows. */
import ExcelJS from "exceljs";

/** An .xlsx with the given sheets (name → [header, ...rows]). */
export async function xlsx(sheets: Record<string, string[][]>): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  for (const [name, rows] of Object.entries(sheets)) {
    const ws = wb.addWorksheet(name);
    for (const r of rows) ws.addRow(r);
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** XLSForm → XForm: read the workbook (exceljs), convert its sheets (pure), write the XForm XML. */
export { XlsFormError } from "./errors.js";
export { xlsformToXForm } from "./read.js";

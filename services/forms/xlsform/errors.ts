/** Conversion errors, each addressed to a cell (`survey!B7: unknown type "slect_one"`). */
export class XlsFormError extends Error {
  constructor(readonly errors: string[]) {
    super(
      `invalid XLSForm: ${errors.slice(0, 5).join("; ")}${errors.length > 5 ? ` (+${errors.length - 5} more)` : ""}`,
    );
    this.name = "XlsFormError";
  }
}

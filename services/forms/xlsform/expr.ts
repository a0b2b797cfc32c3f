/**
 * A small XPath check for XLSForm expressions: balanced brackets and quotes, `${name}` references that exist,
 * and function calls to functions ODK clients know (XPath 1.0 and the ODK XForms functions); references become
 * absolute paths. Pure.
 */

/** XPath 1.0 functions, ODK XForms' own and node tests (`text()`). */
const FUNCTIONS = new Set(
  (
    "last position count id local-name namespace-uri name string concat starts-with contains substring-before " +
    "substring-after substring string-length normalize-space translate boolean not true false lang number sum " +
    "floor ceiling round text node if coalesce selected selected-at count-selected jr:choice-name jr:itext " +
    "regex int date decimal-date-time date-time decimal-time format-date format-date-time today now random " +
    "uuid once pow log log10 abs sin cos tan asin acos atan atan2 sqrt exp exp10 pi min max count-non-empty " +
    "boolean-from-string ends-with join substr sort sort-by distance area digest base64-decode checklist " +
    "weighted-checklist instance current indexed-repeat pulldata randomize version property geofence " +
    "jr:count jr:count-selected"
  ).split(" "),
);
const OPERATORS = new Set(["and", "or", "div", "mod"]);

/** Names called as functions outside quotes that no ODK client knows. */
function unknownFunctions(e: string): string[] {
  const bare = e.replace(/'[^']*'|"[^"]*"/g, "''").replace(/\$\{[^}]*\}/g, "x");
  const out: string[] = [];
  for (const m of bare.matchAll(/(^|[^\w:./-])([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)\s*\(/g)) {
    const name = m[2]!;
    if (!FUNCTIONS.has(name) && !OPERATORS.has(name)) out.push(name);
  }
  return out;
}

/** Checks `e` and rewrites `${name}`; pushes readable errors (prefixed with `at`) and returns the rewrite. */
export function checkExpression(
  e: string,
  at: string,
  paths: ReadonlyMap<string, string>,
  errors: string[],
): string {
  const before = errors.length;
  const stack: string[] = [];
  let quote: string | null = null;
  for (const ch of e) {
    if (quote) {
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "(" || ch === "[") stack.push(ch);
    else if (ch === ")" || ch === "]") {
      const open = stack.pop();
      if (open !== (ch === ")" ? "(" : "[")) {
        errors.push(`${at}: unbalanced "${ch}" in expression ${JSON.stringify(e)}`);
        break;
      }
    }
  }
  if (quote) errors.push(`${at}: unclosed quote ${quote} in expression ${JSON.stringify(e)}`);
  else if (stack.length && errors.length === before)
    errors.push(`${at}: unclosed "${stack.at(-1)}" in expression ${JSON.stringify(e)}`);
  if (/\$\{[^}]*$/.test(e) || /\$\{[^}]*\$\{/.test(e))
    errors.push(`${at}: unclosed \${ in expression ${JSON.stringify(e)}`);
  for (const name of unknownFunctions(e))
    errors.push(`${at}: unknown function ${name}() in expression ${JSON.stringify(e)}`);
  return e.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    const p = paths.get(name.trim());
    if (!p) {
      errors.push(`${at}: \${${name}} names no question in the survey`);
      return "";
    }
    return p;
  });
}

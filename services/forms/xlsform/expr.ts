/**
 * A small XPath syntax check for XLSForm expressions: balanced brackets and quotes, and `${name}` references
 * that exist; references become absolute paths. Pure.
 */

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
  return e.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    const p = paths.get(name.trim());
    if (!p) {
      errors.push(`${at}: \${${name}} names no question in the survey`);
      return "";
    }
    return p;
  });
}

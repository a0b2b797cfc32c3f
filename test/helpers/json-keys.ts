/**
 * Duplicate keys in a JSON text. JSON.parse keeps the last of two equal keys without a word, so this scans
 * the raw text: a stack of key sets, one per open object; a string directly followed by `:` is a key.
 */
export function duplicateKeys(json: string): string[] {
  const open: Set<string>[] = [];
  const dups: string[] = [];
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === "{") open.push(new Set());
    else if (ch === "}") open.pop();
    else if (ch === '"') {
      const end = stringEnd(json, i);
      const key = JSON.parse(json.slice(i, end + 1)) as string;
      const keys = open.at(-1);
      if (keys && /^\s*:/.test(json.slice(end + 1, end + 8))) {
        if (keys.has(key)) dups.push(key);
        keys.add(key);
      }
      i = end;
    }
  }
  return dups;
}

/** Index of the closing quote of the string starting at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i;
  }
  throw new Error(`unterminated string at ${start}`);
}

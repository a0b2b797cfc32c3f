/**
 * The static import graph of a TypeScript entry: every module (repo files and npm packages) that loading it
 * loads, following value imports and re-exports and leaving out `import type`, `export type` and dynamic
 * `import()` (which load on first use). Plain text scanning: enough for this repo's formatted sources.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const STATIC = /^(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?["']([^"']+)["'];?/gm;

/** Repo-relative paths of the repo's modules and names of the packages `entries` load statically. */
export function staticImports(
  root: string,
  entries: string[],
): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    const rel = relative(root, file);
    if (files.has(rel)) return;
    files.add(rel);
    for (const [, spec] of readFileSync(file, "utf8").matchAll(STATIC)) {
      if (!spec) continue;
      if (spec.startsWith(".")) {
        const ts = join(dirname(file), spec).replace(/\.js$/, ".ts");
        if (existsSync(ts)) visit(ts);
      } else if (!spec.startsWith("node:")) {
        packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      }
    }
  };
  for (const e of entries) visit(join(root, e));
  return { files, packages };
}

/** Finding a package's root folder from a module inside it (works from source and from the compiled dist/). */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The nearest folder above `moduleUrl` whose package.json is named `name`. */
export function findPackageRoot(moduleUrl: string, name: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj) && JSON.parse(readFileSync(pj, "utf8")).name === name) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${name} package root`);
    dir = up;
  }
}

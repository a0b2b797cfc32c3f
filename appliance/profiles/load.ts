/** Finds and validates a hardware profile by name. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../paths.js";
import { type HardwareProfile, profileSchema } from "./schema.js";

/** The folder profiles are read from. */
export function profilesDir(): string {
  return join(packageRoot(), "firmware-profiles");
}

/** Names of all shipped profiles. */
export function listProfiles(dir = profilesDir()): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "profile.json")))
    .map((d) => d.name)
    .sort();
}

/** Loads `name`; throws naming the bad fields, or the profiles that exist when `name` does not. */
export function loadProfile(name: string, dir = profilesDir()): HardwareProfile {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) throw new Error(`invalid profile name: ${name}`);
  const file = join(dir, name, "profile.json");
  if (!existsSync(file)) throw new Error(`no profile ${name}; known: ${listProfiles(dir).join(", ")}`);
  const result = profileSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`${file}:\n${lines.join("\n")}`);
  }
  if (result.data.name !== name) throw new Error(`${file}: name is ${result.data.name}, folder is ${name}`);
  return result.data;
}

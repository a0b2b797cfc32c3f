/** The JSON Schema of profile.json (firmware-profiles/profile.schema.json), generated from the zod schema. */
import { z } from "zod";
import { profileSchema } from "./schema.js";

/** The JSON Schema firmware-profiles/profile.schema.json holds (regenerate it, then `biome format` it). */
export function profileJsonSchema(): string {
  const schema = { ...z.toJSONSchema(profileSchema), title: "Nexus Edge hardware profile" };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

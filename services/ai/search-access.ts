/**
 * Who may see a document of the semantic index. Each document records the resource it was read from, and a
 * search keeps only the hits the caller may read there:
 * - `files-space` (`file:`/`file-ocr:` documents, resource id the file's space): `files:read` and the files
 *   service's own space rule (`canUse`: one's own space, one's teams' spaces, every space with `files:admin`).
 *   A file never leaves its space (files moves only inside one), so the space recorded at indexing stays true;
 *   a deleted file's documents are dropped on `nexus.files.deleted`.
 * - `form` (`form-ocr:` documents, resource id the form): `forms:read`, the permission the forms service asks
 *   for a submission and its attachments.
 * - `user` (texts indexed through `POST /index`, resource id the caller who indexed them): that caller, or a
 *   holder of `ai:admin`.
 * - none (documents indexed before owners were recorded): `ai:admin` only.
 * The caller's teams and permissions come from the gateway per request, so leaving a team or losing a role
 * takes effect at the caller's next token (or session check).
 */
import { type Caller, hasPermission } from "../../appliance/kit/index.js";
import { canUse } from "../files/spaces.js";

export type ResourceType = "files-space" | "form" | "user";

/** What a document was read from. */
export interface Owner {
  type: ResourceType;
  id: string;
}

/** True when `caller` may read a document owned by `type`/`id` (null: recorded before owners were). */
export function mayRead(caller: Caller, type: string | null, id: string | null): boolean {
  const may = (p: string) => hasPermission(caller.permissions, p);
  if (type === "files-space") return id !== null && may("files:read") && canUse(caller, id);
  if (type === "form") return id !== null && may("forms:read");
  if (type === "user") return id === caller.id || may("ai:admin");
  return may("ai:admin");
}

/** True when `caller` may replace or remove a document: only texts they indexed themselves (admins: any user's). */
export function mayChange(caller: Caller, type: string | null, id: string | null): boolean {
  return type === "user" && (id === caller.id || hasPermission(caller.permissions, "ai:admin"));
}

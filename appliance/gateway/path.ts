/**
 * Parses `/api/<service>/<rest>` safely. Anything that could climb out of the service's prefix after decoding
 * (`..`, `.`, encoded slashes or backslashes, NUL) is refused rather than normalised: a path that needs
 * normalising is not one a legitimate client sends.
 */
import { SERVICE_NAME } from "../lib/names.js";

export type ParsedPath =
  | { ok: true; service: string; rest: string; search: string }
  | { ok: false; status: 400 | 404; message: string };

/** Printable ASCII without `%` and `\`: such a path decodes to itself. */
const PLAIN_PATH = /^[\x21-\x24\x26-\x5b\x5d-\x7e]*$/;

/** Splits a request target into service and the path the service sees. */
export function parseApiPath(target: string): ParsedPath {
  if (target.length > 4096) return { ok: false, status: 400, message: "request target too long" };
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  const search = q === -1 ? "" : target.slice(q);
  if (!path.startsWith("/api/")) return { ok: false, status: 404, message: "not an API path" };
  const plain = PLAIN_PATH.test(path);
  // The common case: nothing encoded, no backslash or control character, and no "/." (so no dot segment).
  if (plain && !path.includes("/.")) {
    const end = path.indexOf("/", 5);
    const service = end < 0 ? path.slice(5) : path.slice(5, end);
    if (!SERVICE_NAME.test(service)) return { ok: false, status: 404, message: "no such service" };
    return { ok: true, service, rest: end < 0 ? "/" : path.slice(end), search };
  }
  const segments = path.slice(5).split("/");
  for (const raw of segments) {
    if (plain) {
      if (raw === "." || raw === "..")
        return { ok: false, status: 400, message: "dot segments are not allowed in paths" };
      continue;
    }
    if (/%(2f|5c|00)/i.test(raw) || raw.includes("\\")) {
      return { ok: false, status: 400, message: "encoded separators are not allowed in paths" };
    }
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return { ok: false, status: 400, message: "malformed percent-encoding in path" };
    }
    if (seg === "." || seg === "..")
      return { ok: false, status: 400, message: "dot segments are not allowed in paths" };
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    if (/[\u0000-\u001f\u007f]/.test(seg))
      return { ok: false, status: 400, message: "control characters in path" };
  }
  const [service = "", ...rest] = segments;
  if (!SERVICE_NAME.test(service)) return { ok: false, status: 404, message: "no such service" };
  return { ok: true, service, rest: `/${rest.join("/")}`, search };
}

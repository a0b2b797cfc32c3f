/** parseApiPath: the gateway's one gate between a raw request target and a service's prefix. */
import { describe, expect, it } from "vitest";
import { parseApiPath } from "../../appliance/gateway/path.js";

type Accepted = [target: string, service: string, rest: string, search: string];
type Refused = [target: string, status: 400 | 404, message: string];

const ACCEPTED: Accepted[] = [
  ["/api/echo/hello", "echo", "/hello", ""],
  ["/api/echo", "echo", "/", ""],
  ["/api/echo/", "echo", "/", ""],
  ["/api/system/settings/box.label", "system", "/settings/box.label", ""],
  ["/api/echo/hello?x=1&y=2", "echo", "/hello", "?x=1&y=2"],
  // Only the path is checked: a query string is the service's business and is kept byte for byte.
  ["/api/echo/hello?path=../../etc/passwd", "echo", "/hello", "?path=../../etc/passwd"],
  ["/api/echo/hello?p=%2e%2e%2f%00%zz", "echo", "/hello", "?p=%2e%2e%2f%00%zz"],
  ["/api/echo/hello?", "echo", "/hello", "?"],
  ["/api/echo/a?b?c", "echo", "/a", "?b?c"],
  // Encoded ordinary characters are passed on undecoded; the service decodes them once.
  ["/api/echo/a%20b", "echo", "/a%20b", ""],
  // Double encoding decodes to a literal "%2e%2e" segment, not to "..": harmless, forwarded as is.
  ["/api/echo/%252e%252e/system", "echo", "/%252e%252e/system", ""],
  // Not dot segments: only exactly "." and ".." climb.
  ["/api/echo/...", "echo", "/...", ""],
  ["/api/echo/..;/x", "echo", "/..;/x", ""],
  ["/api/echo/.hidden", "echo", "/.hidden", ""],
  ["/api/echo/a..b", "echo", "/a..b", ""],
  ["/api/echo//hello", "echo", "//hello", ""],
  ["/api/echo/%C3%A9t%C3%A9", "echo", "/%C3%A9t%C3%A9", ""],
  ["/api/a1/x", "a1", "/x", ""],
  ["/api/my-service/x", "my-service", "/x", ""],
  [`/api/${"s".repeat(32)}/x`, "s".repeat(32), "/x", ""],
  // The length limit is inclusive.
  [`/api/echo/${"a".repeat(4096 - 10)}`, "echo", `/${"a".repeat(4086)}`, ""],
];

const DOTS = "dot segments are not allowed in paths";
const SEPARATORS = "encoded separators are not allowed in paths";
const MALFORMED = "malformed percent-encoding in path";
const CONTROL = "control characters in path";
const NO_SERVICE = "no such service";

const REFUSED: Refused[] = [
  // Dot segments, raw and percent-encoded in every case mix.
  ["/api/echo/../system/settings", 400, DOTS],
  ["/api/../metrics", 400, DOTS],
  ["/api/..", 400, DOTS],
  ["/api/echo/..", 400, DOTS],
  ["/api/echo/./hello", 400, DOTS],
  ["/api/./echo/hello", 400, DOTS],
  ["/api/echo/%2e%2e/system", 400, DOTS],
  ["/api/echo/%2E%2E/system", 400, DOTS],
  ["/api/echo/.%2e/system", 400, DOTS],
  ["/api/echo/%2e./system", 400, DOTS],
  ["/api/echo/%2e", 400, DOTS],
  ["/api/%2e%2e/secrets", 400, DOTS],
  ["/api/echo/hello/..?x=1", 400, DOTS],
  // Encoded slashes, backslashes and NUL.
  ["/api/echo/..%2fsystem", 400, SEPARATORS],
  ["/api/echo/a%2Fb", 400, SEPARATORS],
  ["/api/echo%2f..%2fsystem/x", 400, SEPARATORS],
  ["/api/echo/%2e%2e%2f%2e%2e%2fetc", 400, SEPARATORS],
  ["/api/echo/..%5csystem", 400, SEPARATORS],
  ["/api/echo/a%5Cb", 400, SEPARATORS],
  ["/api/echo/a\\b", 400, SEPARATORS],
  ["/api/echo/..\\..\\system", 400, SEPARATORS],
  ["/api/echo/hello%00", 400, SEPARATORS],
  ["/api/echo/hello%00.json", 400, SEPARATORS],
  // Broken percent-encoding, including invalid and overlong UTF-8.
  ["/api/echo/%zz", 400, MALFORMED],
  ["/api/echo/%", 400, MALFORMED],
  ["/api/echo/%e", 400, MALFORMED],
  ["/api/echo/%G0", 400, MALFORMED],
  ["/api/echo/%c0%ae%c0%ae", 400, MALFORMED],
  ["/api/echo/%ff", 400, MALFORMED],
  ["/api/echo/%ed%a0%80", 400, MALFORMED],
  // Control characters, encoded (raw ones never get past node's HTTP parser).
  ["/api/echo/a%0d%0aX-Injected:%201", 400, CONTROL],
  ["/api/echo/%0a", 400, CONTROL],
  ["/api/echo/%09", 400, CONTROL],
  ["/api/echo/%1f", 400, CONTROL],
  ["/api/echo/%7f", 400, CONTROL],
  ["/api/echo/a\u0001b", 400, CONTROL],
  // Service names: lower-case letters, digits and '-', 2 to 32 characters, never decoded.
  ["/api/Echo/hello", 404, NO_SERVICE],
  ["/api/ECHO/hello", 404, NO_SERVICE],
  ["/api/e/hello", 404, NO_SERVICE],
  ["/api/1echo/hello", 404, NO_SERVICE],
  ["/api/-echo/hello", 404, NO_SERVICE],
  ["/api/echo-/hello", 404, NO_SERVICE],
  ["/api/echo_1/hello", 404, NO_SERVICE],
  ["/api/echo.x/hello", 404, NO_SERVICE],
  ["/api/%65cho/hello", 404, NO_SERVICE],
  ["/api/ech%20o/hello", 404, NO_SERVICE],
  ["/api/openapi.json/x", 404, NO_SERVICE],
  [`/api/${"s".repeat(33)}/x`, 404, NO_SERVICE],
  ["/api/", 404, NO_SERVICE],
  ["/api//echo/hello", 404, NO_SERVICE],
  ["/api/?x=1", 404, NO_SERVICE],
  ["/api/ech\u00f6/x", 404, NO_SERVICE],
  // Not under /api/ at all.
  ["/apix/echo/hello", 404, "not an API path"],
  ["/api", 404, "not an API path"],
  ["/metrics", 404, "not an API path"],
  ["", 404, "not an API path"],
  ["api/echo/hello", 404, "not an API path"],
  ["http://evil.example/api/echo/hello", 404, "not an API path"],
  ["//api/echo/hello", 404, "not an API path"],
  // Very long targets, path or query.
  [`/api/echo/${"a".repeat(4096 - 9)}`, 400, "request target too long"],
  [`/api/echo/x?${"q".repeat(5000)}`, 400, "request target too long"],
  [`/api/echo/${"../".repeat(2000)}`, 400, "request target too long"],
  [`/api/echo/${"a/".repeat(100_000)}`, 400, "request target too long"],
];

describe("parseApiPath accepts", () => {
  it.each(ACCEPTED)("%s", (target, service, rest, search) => {
    expect(parseApiPath(target)).toEqual({ ok: true, service, rest, search });
  });
});

describe("parseApiPath refuses", () => {
  it.each(REFUSED)("%s → %i", (target, status, message) => {
    expect(parseApiPath(target)).toEqual({ ok: false, status, message });
  });

  it("refuses every dot segment spelling in every position", () => {
    const dots = ["..", ".", "%2e%2e", "%2E%2e", ".%2E", "%2e.", "%2e", "%2E"];
    for (const d of dots) {
      for (const t of [`/api/${d}/x`, `/api/echo/${d}`, `/api/echo/${d}/x`, `/api/echo/a/b/${d}?q`]) {
        const r = parseApiPath(t);
        expect(r.ok, t).toBe(false);
        if (!r.ok) expect(r.status, t).toBe(400);
      }
    }
  });

  it("never hands a service a rest path that climbs out of its prefix", () => {
    // Every accepted rest path, resolved the way a WHATWG URL parser would, stays a path of its own service.
    const targets = [...ACCEPTED.map(([t]) => t), ...REFUSED.map(([t]) => t)];
    for (const t of targets) {
      const r = parseApiPath(t);
      if (!r.ok) continue;
      const resolved = new URL(`http://svc${r.rest}`).pathname;
      expect(resolved.startsWith("/"), t).toBe(true);
      expect(decodeURIComponent(resolved).split("/"), t).not.toContain("..");
    }
  });
});

/** Names and formats shared by whoever issues credentials (identity) and whoever checks them (gateway). */

export const SESSION_COOKIE = "nexus_session";
export const CSRF_COOKIE = "nexus_csrf";
/** The header a cookie session sends its CSRF token in, on state-changing requests. */
export const CSRF_HEADER = "x-csrf-token";
export const TOKEN_AUDIENCE = "nexus-edge";

/** The `iss` of access tokens issued on box `site`. */
export const tokenIssuer = (site: string) => `nexus-edge:${site}`;

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? /^bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
}

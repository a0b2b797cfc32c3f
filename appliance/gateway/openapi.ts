/**
 * The box's OpenAPI 3.1 document: every running service's document under `/api/<service>`, plus what the
 * gateway answers itself (passed in as `gatewayDoc`). Each service operation is tagged with its service and
 * its operationId prefixed with it (`listUsers` in identity → `identityListUsers`), so ids are unique on the
 * box. Service-internal routes (`/internal/*`) are left out: the gateway answers them 404.
 */
import { securitySchemes } from "../kit/openapi.js";

type Operation = { operationId?: string; tags?: string[]; [k: string]: unknown };
type PathItem = Record<string, Operation>;

/** An OpenAPI document, or the part of one that gets merged. */
export interface OpenApiPart {
  info?: { description?: string };
  paths?: Record<string, PathItem>;
  components?: { schemas?: Record<string, unknown> };
}

export interface AggregateOptions {
  /**
   * The gateway's own operations (`/api/appliance/…`, `/health`, `/ready`, `/metrics`), finished: absolute
   * paths, operationIds unique on the box, security set (kit `finishOperations` with the access rules).
   * Merged as given; operations without tags get `appliance`.
   */
  gatewayDoc?: OpenApiPart;
}

const OWN_TAG = "appliance";
const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const isInternal = (path: string) => path === "/internal" || path.startsWith("/internal/");

/** A service's paths under `/api/<service>`, tagged and with prefixed operationIds; internal ones dropped. */
export function servicePaths(service: string, doc: OpenApiPart): Record<string, PathItem> {
  const out: Record<string, PathItem> = {};
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (isInternal(path)) continue;
    out[`/api/${service}${path}`] = Object.fromEntries(
      Object.entries(item).map(([method, op]) => [
        method,
        {
          ...op,
          tags: [service],
          ...(op.operationId ? { operationId: `${service}${capitalized(op.operationId)}` } : {}),
        },
      ]),
    );
  }
  return out;
}

function ownPaths(doc: OpenApiPart | undefined): Record<string, PathItem> {
  const out: Record<string, PathItem> = {};
  for (const [path, item] of Object.entries(doc?.paths ?? {})) {
    out[path] = Object.fromEntries(
      Object.entries(item).map(([method, op]) => [method, { ...op, tags: op.tags ?? [OWN_TAG] }]),
    );
  }
  return out;
}

async function fetchDoc(port: number, internalToken: string): Promise<OpenApiPart> {
  const res = await fetch(`http://127.0.0.1:${port}/openapi.json`, {
    signal: AbortSignal.timeout(3000),
    headers: { "x-nexus-internal": internalToken },
  });
  if (!res.ok) throw new Error(`openapi.json answered ${res.status}`);
  return (await res.json()) as OpenApiPart;
}

/** Fetches `/openapi.json` from every running service and merges them. A service that fails is listed, not fatal. */
export async function aggregateOpenApi(
  routes: ReadonlyMap<string, number>,
  version: string,
  internalToken: string,
  opts: AggregateOptions = {},
) {
  const services = [...routes].sort(([a], [b]) => a.localeCompare(b));
  const docs = await Promise.all(
    services.map(([service, port]) =>
      fetchDoc(port, internalToken).then(
        (doc) => ({ service, doc }),
        () => ({ service, doc: undefined }),
      ),
    ),
  );
  const unavailable = docs.filter((d) => !d.doc).map((d) => d.service);
  const paths: Record<string, PathItem> = ownPaths(opts.gatewayDoc);
  const schemas: Record<string, unknown> = { ...opts.gatewayDoc?.components?.schemas };
  const tags: { name: string; description: string }[] = [];
  for (const { service, doc } of docs) {
    if (!doc) continue;
    Object.assign(paths, servicePaths(service, doc));
    Object.assign(schemas, doc.components?.schemas);
    tags.push({ name: service, description: doc.info?.description || service });
  }
  if (opts.gatewayDoc?.paths) tags.unshift({ name: OWN_TAG, description: "The gateway's own API" });
  return {
    openapi: "3.1.0",
    info: {
      title: "Nexus Edge API",
      version,
      description: unavailable.length ? `unavailable: ${unavailable.join(", ")}` : "",
    },
    servers: [{ url: "/", description: "this box's gateway" }],
    tags,
    paths,
    components: { schemas, securitySchemes },
  };
}

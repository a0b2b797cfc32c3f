/** Merges each service's OpenAPI document into one, with paths under `/api/<service>`. */

interface OpenApiDoc {
  paths?: Record<string, unknown>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
}

/**
 * Fetches `/openapi.json` from every running service and merges them. A service that fails is listed, not fatal.
 * `own`: paths the gateway answers itself (/health, /api/appliance/…), already complete, taken as they are.
 */
export async function aggregateOpenApi(
  routes: ReadonlyMap<string, number>,
  version: string,
  internalToken: string,
  own: OpenApiDoc = {},
) {
  const paths: Record<string, unknown> = { ...own.paths };
  const schemas: Record<string, unknown> = { ...own.components?.schemas };
  const unavailable: string[] = [];
  await Promise.all(
    [...routes].map(async ([service, port]) => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/openapi.json`, {
          signal: AbortSignal.timeout(3000),
          headers: { "x-nexus-internal": internalToken },
        });
        const doc = (await res.json()) as OpenApiDoc;
        for (const [p, item] of Object.entries(doc.paths ?? {})) {
          const tagged = Object.fromEntries(
            Object.entries(item as Record<string, Record<string, unknown>>).map(([m, op]) => [
              m,
              { ...op, tags: [service] },
            ]),
          );
          paths[`/api/${service}${p}`] = tagged;
        }
        for (const [k, v] of Object.entries(doc.components?.schemas ?? {})) schemas[k] = v;
      } catch {
        unavailable.push(service);
      }
    }),
  );
  return {
    openapi: "3.0.0",
    info: {
      title: "Nexus Edge API",
      version,
      description: unavailable.length ? `unavailable: ${unavailable.join(", ")}` : "",
    },
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: "http", scheme: "bearer" }, ...own.components?.securitySchemes },
    },
    security: [{ bearer: [] }],
  };
}

/**
 * `jsonRoute(app, spec, handler)`: one call declares a validated JSON route and its OpenAPI entry, so thin
 * route files stay readable. Params, query, headers and body are zod schemas; invalid input never reaches the
 * handler (the app's defaultHook turns it into a 400 with the issues). The answer's schema is required, and
 * the handler's `c.json(...)` is typed against it: the document cannot drift from what the handler sends.
 */
import { createRoute, type OpenAPIHono, type z } from "@hono/zod-openapi";
import type { Context, TypedResponse } from "hono";
import type { StatusCode } from "hono/utils/http-status";
import { errorResponses } from "./openapi.js";

type Obj = z.ZodObject<z.ZodRawShape>;
type SuccessStatus = 200 | 201 | 202;

export interface RouteSpec<
  P extends Obj | undefined,
  Q extends Obj | undefined,
  B extends z.ZodType | undefined,
  R extends z.ZodType,
> {
  method: "get" | "post" | "put" | "patch" | "delete";
  path: string;
  /** camelCase, unique in the service; the gateway prefixes the service's name. */
  operationId: string;
  summary: string;
  params?: P;
  query?: Q;
  /** Request headers the handler reads (lower-case names). */
  headers?: Obj;
  body?: B;
  /** The JSON body of a successful answer. */
  response: R;
  /** Status of a successful answer (200 by default). */
  status?: SuccessStatus;
  /** Another success status with the same body (a folder that already existed: 200 beside 201). */
  alsoStatus?: SuccessStatus;
  /** Error statuses the handler itself answers (400 is added when there is input; 401/403/429 by the kit). */
  errors?: readonly number[];
}

type Infer<T> = T extends z.ZodType ? z.infer<T> : undefined;
/** What `c.json(body, status)` returns when `body` fits the declared response. */
type Reply<R extends z.ZodType> = Response & TypedResponse<z.infer<R>, StatusCode, "json">;

/** Registers a validated JSON route with its OpenAPI entry. */
export function jsonRoute<
  P extends Obj | undefined,
  Q extends Obj | undefined,
  B extends z.ZodType | undefined,
  R extends z.ZodType,
>(
  app: OpenAPIHono,
  spec: RouteSpec<P, Q, B, R>,
  handler: (
    c: Context,
    input: { params: Infer<P>; query: Infer<Q>; body: Infer<B> },
  ) => Promise<Reply<R>> | Reply<R>,
): void {
  // biome-ignore lint/suspicious/noExplicitAny: the typed input is rebuilt below from the validated parts
  app.openapi(createRoute(routeConfig(spec)), ((c: any) =>
    handler(c, {
      params: (spec.params ? c.req.valid("param") : undefined) as Infer<P>,
      query: (spec.query ? c.req.valid("query") : undefined) as Infer<Q>,
      body: (spec.body ? c.req.valid("json") : undefined) as Infer<B>,
    })) as never);
}

function routeConfig<
  P extends Obj | undefined,
  Q extends Obj | undefined,
  B extends z.ZodType | undefined,
  R extends z.ZodType,
>(spec: RouteSpec<P, Q, B, R>) {
  const hasInput = !!(spec.params || spec.query || spec.body || spec.headers);
  const success = { description: "success", content: { "application/json": { schema: spec.response } } };
  const errors = [...(hasInput ? [400] : []), ...(spec.errors ?? [])];
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    summary: spec.summary,
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(spec.headers ? { headers: spec.headers } : {}),
      ...(spec.body
        ? { body: { content: { "application/json": { schema: spec.body } }, required: true } }
        : {}),
    },
    responses: {
      [spec.status ?? 200]: success,
      ...(spec.alsoStatus ? { [spec.alsoStatus]: success } : {}),
      ...errorResponses([...new Set(errors)]),
    },
  };
}

type RouteConfig = Parameters<typeof createRoute>[0];

/**
 * Documents a route Hono serves by hand (streamed bodies, downloads, wildcard paths): its OpenAPI entry, with
 * the error responses added as jsonRoute adds them. The handler validates its own input.
 */
export function documentRoute(
  app: OpenAPIHono,
  spec: Omit<RouteConfig, "responses"> & {
    operationId: string;
    summary: string;
    responses: RouteConfig["responses"];
    errors?: readonly number[];
  },
): void {
  const { errors = [], ...config } = spec;
  const r = config.request ?? {};
  const hasInput = !!(r.params || r.query || r.headers || r.body);
  app.openAPIRegistry.registerPath({
    ...config,
    responses: {
      ...config.responses,
      ...errorResponses([...new Set([...(hasInput ? [400] : []), ...errors])]),
    },
  });
}

/** A response whose body is a file's bytes. */
export const binaryContent = (mediaType = "application/octet-stream") => ({
  [mediaType]: { schema: { type: "string" as const, format: "binary" } },
});

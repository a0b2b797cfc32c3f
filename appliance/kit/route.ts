/**
 * `jsonRoute(app, spec, handler)`: one call declares a validated JSON route and its OpenAPI entry, so thin
 * route files stay readable. Params, query and body are zod schemas; invalid input never reaches the handler
 * (the app's defaultHook turns it into a 400 with the issues).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";

type Obj = z.ZodObject<z.ZodRawShape>;

export interface RouteSpec<
  P extends Obj | undefined,
  Q extends Obj | undefined,
  B extends z.ZodType | undefined,
> {
  method: "get" | "post" | "put" | "patch" | "delete";
  path: string;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Status of a successful answer (200 by default). */
  status?: 200 | 201 | 202;
}

type Infer<T> = T extends z.ZodType ? z.infer<T> : undefined;

export function jsonRoute<
  P extends Obj | undefined,
  Q extends Obj | undefined,
  B extends z.ZodType | undefined,
>(
  app: OpenAPIHono,
  spec: RouteSpec<P, Q, B>,
  handler: (
    c: Context,
    input: { params: Infer<P>; query: Infer<Q>; body: Infer<B> },
  ) => Promise<Response> | Response,
): void {
  const route = createRoute({
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(spec.body
        ? { body: { content: { "application/json": { schema: spec.body } }, required: true } }
        : {}),
    },
    responses: {
      [spec.status ?? 200]: { description: "success", content: { "application/json": { schema: z.any() } } },
    },
  });
  // biome-ignore lint/suspicious/noExplicitAny: the typed input is rebuilt below from the validated parts
  app.openapi(route, ((c: any) =>
    handler(c, {
      params: (spec.params ? c.req.valid("param") : undefined) as Infer<P>,
      query: (spec.query ? c.req.valid("query") : undefined) as Infer<Q>,
      body: (spec.body ? c.req.valid("json") : undefined) as Infer<B>,
    })) as never);
}

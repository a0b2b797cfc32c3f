/** Admin route for the security audit log. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import { queryAudit } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import * as s from "./schemas.js";

/** Registers the audit log query. */
export function auditRoutes(app: OpenAPIHono, ctx: ServiceContext<IdentityConfig>) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/audit",
      operationId: "queryAudit",
      summary: "Security events, newest first, filtered",
      query: s.auditQuery,
      response: s.auditOut,
    },
    (c, { query }) => c.json({ entries: queryAudit(ctx, query) }, 200),
  );
}

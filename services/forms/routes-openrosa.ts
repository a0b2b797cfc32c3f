/**
 * OpenRosa routes for ODK Collect and Enketo-style clients, under `/openrosa/key/<token>` (the token in the
 * URL, as ODK Central's app users) and `/openrosa` with HTTP Basic (app user name + token). The gateway lets
 * these through unauthenticated (access level `service`) and forwards `Authorization`; every request is
 * authenticated here, and every answer carries `X-OpenRosa-Version: 1.0`.
 */
import { join } from "node:path";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { callerOf } from "../../appliance/kit/index.js";
import { incomingOf } from "../files/http.js";
import { type AppUser, appUserByToken, basicCredentials, mayUseForm } from "./app-users.js";
import { attachmentsOf, getVersion, publishedVersions, type VersionRow } from "./forms.js";
import { discard, type PostedFile, readMultipart } from "./multipart.js";
import { formListXml, manifestXml, OPENROSA_HEADERS, openRosaResponse } from "./openrosa.js";
import { documentOpenRosa } from "./openrosa-doc.js";
import { openRosaBase } from "./routes-app-users.js";
import { type Ctx, formsOf } from "./state.js";
import { SubmissionError } from "./submission-check.js";
import { type Received, receiveSubmission } from "./submissions.js";

/**
 * App users under the first two; console users (signed in with identity, authenticated by the gateway, which
 * checks forms:read and forms:submit) under `/me/openrosa`, the web app's base when it has no app-user token.
 */
const PREFIXES = ["/openrosa/key/:token", "/openrosa", "/me/openrosa"] as const;

/** The client's base URL for this prefix (absolute: Collect follows downloadUrl as given). */
function baseOf(ctx: Ctx, c: Context): string {
  const base = openRosaBase(ctx, c);
  if (c.req.path.startsWith("/me/openrosa/")) return base.replace(/\/openrosa$/, "/me/openrosa");
  const token = /^\/openrosa\/key\/([^/]+)\//.exec(c.req.path)?.[1];
  return `${base}${token ? `/key/${token}` : ""}`;
}

function xml(c: Context, body: string, status: 200 | 201 | 202 | 400 | 401 | 403 | 404 | 409 | 413 = 200) {
  return c.body(body, status, { ...OPENROSA_HEADERS, Date: new Date().toUTCString() });
}

function fail(c: Context, status: 400 | 401 | 403 | 404 | 409 | 413, message: string) {
  const headers: Record<string, string> = { ...OPENROSA_HEADERS };
  if (status === 401) headers["WWW-Authenticate"] = 'Basic realm="Nexus Edge forms", charset="UTF-8"';
  return c.body(openRosaResponse(message, "error"), status, headers);
}

/** The app user the request authenticates as, or null. */
function appUserOf(ctx: Ctx, c: Context): AppUser | null {
  const key = /^\/openrosa\/key\/([^/]+)\//.exec(c.req.path);
  if (key) return appUserByToken(ctx, decodeURIComponent(key[1]!));
  const basic = basicCredentials(c.req.header("authorization"));
  return basic ? appUserByToken(ctx, basic.token, basic.name) : null;
}

/** The published version a URL names, if the app user may use its form. */
function versionParam(c: Context, ctx: Ctx): VersionRow | undefined {
  const v = c.req.param("version");
  const version = v === "-" ? "" : (v ?? "");
  const formId = c.req.param("formId") ?? "";
  if (!mayUseForm(ctx, c.get("appUser" as never) as AppUser, formId)) return undefined;
  const row = getVersion(ctx, formId, version);
  return row?.state === "published" ? row : undefined;
}

/** Mounts the OpenRosa routes. */
export function openRosaRoutes(app: OpenAPIHono, ctx: Ctx) {
  const f = () => formsOf(ctx);
  app.use("/openrosa/*", async (c, next) => {
    const user = appUserOf(ctx, c);
    if (!user) return fail(c, 401, "app user credentials required (unknown or revoked)");
    c.set("appUser" as never, user as never);
    c.set("submitter" as never, `app-user:${user.id}` as never);
    await next();
    c.header("X-OpenRosa-Version", "1.0");
  });
  app.use("/me/openrosa/*", async (c, next) => {
    const caller = callerOf(c);
    if (!caller) return fail(c, 401, "sign in to the console first");
    // Console users see every published form their forms:read allows; per-form scoping is for app users.
    const user: AppUser = { ...CONSOLE_USER, id: caller.id, name: caller.id };
    c.set("appUser" as never, user as never);
    c.set("submitter" as never, `user:${caller.id}` as never);
    await next();
    c.header("X-OpenRosa-Version", "1.0");
  });
  for (const p of PREFIXES) {
    app.get(`${p}/formList`, (c) =>
      xml(
        c,
        formListXml(
          baseOf(ctx, c),
          publishedVersions(ctx).filter((v) =>
            mayUseForm(ctx, c.get("appUser" as never) as AppUser, v.form_id),
          ),
          (v) => attachmentsOf(ctx, v.form_id, v.version).length,
        ),
      ),
    );
    app.get(`${p}/forms/:formId/:version/form.xml`, (c) => {
      const v = versionParam(c, ctx);
      return v ? xml(c, v.xml) : fail(c, 404, "no such published form version");
    });
    app.get(`${p}/forms/:formId/:version/manifest`, (c) => {
      const v = versionParam(c, ctx);
      if (!v) return fail(c, 404, "no such published form version");
      return xml(c, manifestXml(baseOf(ctx, c), v, attachmentsOf(ctx, v.form_id, v.version)));
    });
    app.get(`${p}/forms/:formId/:version/attachments/:name`, async (c) => {
      const v = versionParam(c, ctx);
      const a = v && attachmentsOf(ctx, v.form_id, v.version).find((x) => x.name === c.req.param("name"));
      if (!a) return fail(c, 404, "no such form attachment");
      const stream = await f().store.get(a.sha256);
      return new Response(stream as unknown as ReadableStream, {
        headers: {
          "Content-Type": a.content_type,
          "Content-Length": String(a.size),
          "X-OpenRosa-Version": "1.0",
        },
      });
    });
    // HEAD (and GET) before a POST: the client learns the largest body it may send.
    app.get(`${p}/submission`, (c) =>
      c.body(null, 204, {
        "X-OpenRosa-Version": "1.0",
        "X-OpenRosa-Accept-Content-Length": String(ctx.config.acceptContentLength),
      }),
    );
    app.post(`${p}/submission`, async (c) => submit(ctx, c));
  }
  documentOpenRosa(app);
}

const CONSOLE_USER: AppUser = {
  id: "",
  name: "",
  createdBy: "",
  createdAt: "",
  revokedAt: null,
  forms: null,
};

async function submit(ctx: Ctx, c: Context) {
  const user = c.get("appUser" as never) as AppUser;
  const max = ctx.config.maxSubmissionBytes;
  if (Number(c.req.header("content-length") ?? 0) > max)
    return fail(c, 413, `submission over ${max} bytes; send it in parts`);
  if (!/^multipart\/form-data/i.test(c.req.header("content-type") ?? ""))
    return fail(c, 400, "a submission is multipart/form-data with an xml_submission_file part");
  let files: PostedFile[] = [];
  try {
    const posted = await readMultipart(incomingOf(c), c.req.header(), join(ctx.dataDir, "incoming"), {
      maxBytes: max,
      maxXmlBytes: Math.min(max, 16 * 1024 ** 2),
      maxParts: 1000,
    });
    files = posted.files;
    const r = await receiveSubmission(ctx, formsOf(ctx), {
      xml: posted.xml,
      files,
      submitter: c.get("submitter" as never) as string,
      mayUse: (formId) => mayUseForm(ctx, user, formId),
    });
    return xml(c, openRosaResponse(messageOf(r)), 201);
  } catch (err) {
    if (err instanceof SubmissionError) return fail(c, err.status, err.message);
    throw err;
  } finally {
    await discard(files);
  }
}

function messageOf(r: Received): string {
  if (r.outcome === "duplicate") return "Already received: nothing new stored.";
  if (!r.row.complete) return "Part received: waiting for the remaining attachments.";
  return r.outcome === "edited" ? `Edit received: revision ${r.row.revision}.` : "Form received.";
}

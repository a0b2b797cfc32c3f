/**
 * A client generated from the box's OpenAPI document (openapi-typescript types in test/generated, checked
 * against the served document by openapi.test.ts; openapi-fetch) against a real box: it lists users, makes a
 * nested folder, uploads a file into it and downloads it again, the path in `?path=` as docs/api.md says.
 * The body types are checked by `npm run typecheck`: none is `unknown`.
 */
import createClient from "openapi-fetch";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { components, paths } from "../generated/nexus-api.js";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { type Person, setupAdmin } from "../helpers/people.js";

let app: TestAppliance;
let admin: Person;
let api: ReturnType<typeof createClient<paths>>;

beforeAll(async () => {
  app = await startTestAppliance({ services: ["identity", "files"] });
  admin = await setupAdmin(app);
  api = createClient<paths>({ baseUrl: app.url, headers: { authorization: `Bearer ${admin.token}` } });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

type FileNode = components["schemas"]["FileNode"];
const me = { space: "me" };

describe("a generated client", () => {
  it("lists users", async () => {
    const { data, error } = await api.GET("/api/identity/users", { params: { query: { limit: 10 } } });
    expectTypeOf(data).not.toBeUnknown();
    expectTypeOf(data!.users).toEqualTypeOf<components["schemas"]["User"][]>();
    expectTypeOf(error).not.toBeUnknown();
    expect(error).toBeUndefined();
    expect(data!.users.map((u) => u.username)).toEqual(["admin"]);
  });

  it("creates a nested folder", async () => {
    const { data, response } = await api.POST("/api/files/spaces/{space}/folders", {
      params: { path: me },
      body: { path: "projects/2026/q1" },
    });
    expectTypeOf(data!.folder).toEqualTypeOf<FileNode>();
    expect(response.status).toBe(201);
    expect(data!.folder).toMatchObject({ path: "projects/2026/q1", name: "q1", kind: "folder" });
  });

  it("uploads a file into a nested folder and downloads it again", async () => {
    const path = "projects/2026/q1/report notes.txt";
    const up = await api.PUT("/api/files/spaces/{space}/content", {
      params: { path: me, query: { path } },
      body: "quarterly numbers\n",
      bodySerializer: (b) => b,
      headers: { "content-type": "text/plain" },
    });
    expectTypeOf(up.data!.file).toEqualTypeOf<FileNode>();
    expect(up.response.status, JSON.stringify(up.error)).toBe(201);
    expect(up.data!.file).toMatchObject({ path, version: 1, contentType: "text/plain", size: 18 });

    const down = await api.GET("/api/files/spaces/{space}/content", {
      params: { path: me, query: { path } },
      parseAs: "text",
    });
    expectTypeOf(down.data).toEqualTypeOf<string | undefined>();
    expect(down.response.status).toBe(200);
    expect(down.data).toBe("quarterly numbers\n");

    const list = await api.GET("/api/files/spaces/{space}/list", {
      params: { path: me, query: { path: "projects/2026/q1" } },
    });
    expectTypeOf(list.data!.items).toEqualTypeOf<FileNode[]>();
    expect(list.data!.items.map((i) => i.name)).toEqual(["report notes.txt"]);
  });

  it("gets errors in the one shape, typed", async () => {
    const { error, response } = await api.GET("/api/files/spaces/{space}/content", {
      params: { path: me, query: { path: "projects/none.txt" } },
      parseAs: "text",
    });
    expect(response.status).toBe(404);
    // openapi-fetch reads an error body as JSON whatever `parseAs` says.
    expect(error).toMatchObject({ status: 404, message: "no such file", data: null });
    const missing = await api.GET("/api/identity/users/{id}", { params: { path: { id: "nobody" } } });
    expectTypeOf(missing.error!).toMatchTypeOf<components["schemas"]["ErrorBody"]>();
    expect(missing.error).toMatchObject({ status: 404 });
  });

  it("the URL form (segments percent-encoded) still reaches the same file; both forms at once is a 400", async () => {
    const auth = { authorization: `Bearer ${admin.token}` };
    const url = `${app.url}/api/files/spaces/me/content/projects/2026/q1/report%20notes.txt`;
    const res = await fetch(url, { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("quarterly numbers\n");
    const both = await fetch(`${url}?path=projects/2026/q1/report%20notes.txt`, { headers: auth });
    expect(both.status).toBe(400);
  });
});

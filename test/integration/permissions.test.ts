/**
 * Permissions come from the services' declarations: a service that is not part of the product (the `survey`
 * fixture) declares its own, and on a real appliance (one process per service, so identity learns them from
 * the supervisor) the built-in roles hold them, identity's catalogue lists them and the gateway enforces them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { addPerson, login, type Person, setupAdmin } from "../helpers/people.js";

let app: TestAppliance;
let admin: Person;

const get = (path: string, token: string) =>
  fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

async function builtinRoles(token: string): Promise<Record<string, string[]>> {
  const res = await get("/api/identity/roles", token);
  expect(res.status).toBe(200);
  const { roles } = (await res.json()) as {
    roles: { name: string; builtin: boolean; permissions: string[] }[];
  };
  return Object.fromEntries(roles.filter((r) => r.builtin).map((r) => [r.name, r.permissions]));
}

beforeAll(async () => {
  app = await startTestAppliance({ services: ["identity", "system", "survey"], isolation: "process" });
  admin = await setupAdmin(app);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

describe("a service's own permissions", () => {
  it("are held by the built-in roles it names (a whole service as survey:*)", async () => {
    expect(await builtinRoles(admin.token)).toEqual({
      admin: ["*"],
      operator: [
        "ai:*",
        "appliance:*",
        "files:*",
        "forms:*",
        "identity:audit:read",
        "identity:teams:read",
        "identity:users:read",
        "media:*",
        "survey:*",
        "system:*",
      ],
      "field-agent": [
        "ai:infer",
        "ai:read",
        "files:read",
        "files:write",
        "forms:read",
        "forms:submit",
        "media:read",
        "media:write",
        "survey:*",
        "system:read",
      ],
      viewer: ["ai:read", "files:read", "forms:read", "media:read", "survey:read", "system:read"],
    });
  });

  it("are in identity's catalogue with their descriptions and the roles that hold them", async () => {
    const res = await get("/api/identity/permissions", admin.token);
    expect(res.status).toBe(200);
    const { permissions } = (await res.json()) as { permissions: { name: string }[] };
    expect(permissions.filter((p) => p.name.startsWith("survey:"))).toEqual([
      { name: "survey:answer", description: "Send answers", roles: ["admin", "operator", "field-agent"] },
      {
        name: "survey:read",
        description: "Read the questions",
        roles: ["admin", "operator", "field-agent", "viewer"],
      },
    ]);
    expect(permissions.map((p) => p.name)).toEqual(
      expect.arrayContaining(["appliance:write", "files:admin"]),
    );
  });

  it("are what the gateway checks: a viewer reads, a field agent answers", async () => {
    const viewer = await addPerson(app, admin, "vic", ["viewer"]);
    const agent = await addPerson(app, admin, "fay", ["field-agent"]);
    const answer = (token: string) =>
      fetch(`${app.url}/api/survey/answers`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await get("/api/survey/questions", viewer.token)).status).toBe(200);
    expect((await answer(viewer.token)).status).toBe(403);
    expect((await answer(agent.token)).status).toBe(201);
    expect((await get("/api/identity/permissions", viewer.token)).status).toBe(403);
  });

  it("leave the built-in roles when the service is no longer declared (rewritten at start)", async () => {
    await app.stop();
    app = await startTestAppliance({ services: ["identity", "system"], dataDir: app.dataDir });
    const token = await login(app, admin.username, admin.password);
    const roles = await builtinRoles(token);
    expect(roles.viewer).toEqual(["ai:read", "files:read", "forms:read", "media:read", "system:read"]);
    expect(roles.operator).not.toContain("survey:*");
  }, 120_000);
});

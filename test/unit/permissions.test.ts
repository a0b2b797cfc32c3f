import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { APPLIANCE_PERMISSIONS } from "../../appliance/gateway/appliance-api.js";
import {
  type DefaultRole,
  defineService,
  mergePermissions,
  type PermissionDeclaration,
  type PermissionDeclarations,
  rule,
} from "../../appliance/kit/index.js";
import { composeBuiltinRoles } from "../../services/identity/builtin-roles.js";
import { permissionCatalogue } from "../../services/identity/routes-permissions.js";
import { registryPermissions } from "../../services/registry.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The built-in roles as services/identity/roles.ts wrote them out by hand before services declared their
 * permissions, with what the forms, media and ai services declare (services/<name>/permissions.ts).
 */
const BEFORE: Record<string, string[]> = {
  admin: ["*"],
  operator: [
    "system:*",
    "appliance:*",
    "files:*",
    "forms:*",
    "ai:*",
    "media:*",
    "identity:users:read",
    "identity:teams:read",
    "identity:audit:read",
  ],
  "field-agent": [
    "system:read",
    "files:read",
    "files:write",
    "forms:read",
    "forms:submit",
    "ai:read",
    "ai:infer",
    "media:read",
    "media:write",
  ],
  viewer: ["system:read", "files:read", "forms:read", "ai:read", "media:read"],
};

const boxPermissions = async () => mergePermissions([APPLIANCE_PERMISSIONS, ...registryPermissions()]);

describe("built-in roles composed from the declared permissions", () => {
  it("are exactly the sets written out by hand before", async () => {
    const roles = composeBuiltinRoles(await boxPermissions());
    const sets = Object.fromEntries(Object.entries(roles).map(([n, r]) => [n, [...r.permissions].sort()]));
    expect(sets).toEqual(Object.fromEntries(Object.entries(BEFORE).map(([n, p]) => [n, [...p].sort()])));
  });

  it("grant a new service's permissions to the roles it names, the whole service as <service>:*", async () => {
    const roles = composeBuiltinRoles(
      mergePermissions([
        await boxPermissions(),
        {
          "notes:read": { description: "see notes", roles: ["operator", "field-agent", "viewer"] },
          "notes:fill": { description: "add notes", roles: ["operator", "field-agent"] },
        },
      ]),
    );
    expect(roles.operator.permissions).toContain("notes:*");
    expect(roles["field-agent"].permissions).toEqual(expect.arrayContaining(["notes:*", "files:write"]));
    expect(roles.viewer.permissions).toEqual([
      "ai:read",
      "files:read",
      "forms:read",
      "media:read",
      "notes:read",
      "system:read",
    ]);
  });

  it("without declarations, only admin holds anything", () => {
    const roles = composeBuiltinRoles({});
    expect(Object.values(roles).map((r) => r.permissions)).toEqual([["*"], [], [], []]);
  });

  it("the catalogue lists each permission with every built-in role that holds it", async () => {
    const catalogue = permissionCatalogue({ permissions: await boxPermissions() });
    expect(catalogue.find((p) => p.name === "files:admin")).toEqual({
      name: "files:admin",
      description: expect.any(String),
      roles: ["admin", "operator"],
    });
    expect(catalogue.find((p) => p.name === "identity:users:write")?.roles).toEqual(["admin"]);
  });
});

describe("declaring permissions", () => {
  const service = (permissions: PermissionDeclarations, access = [rule("GET", "/a", "probe:read")]) =>
    defineService({ name: "probe", version: "1.0.0", routes: () => undefined, access, permissions });
  const read: PermissionDeclaration = { description: "read", roles: ["viewer"] };

  it("an access rule needing an undeclared permission fails the service's start", () => {
    expect(() => service({})).toThrow(/GET \/a needs undeclared permission probe:read/);
    expect(() => service({ "probe:raed": read })).toThrow(/probe:read/);
    expect(() => service({ "probe:read": read })).not.toThrow();
  });

  it.each([
    ["another service's", { "files:read": read }],
    ["a wildcard", { "probe:read": read, "probe:*": read }],
    ["a malformed", { "probe:read": read, "probe:Read It": read }],
  ])("%s permission is refused", (_, permissions) => {
    expect(() => service(permissions)).toThrow(/declares only its own permissions/);
  });

  it("a role that is not built in is refused (admin holds `*` anyway)", () => {
    expect(() => service({ "probe:read": { description: "read", roles: ["admin" as DefaultRole] } })).toThrow(
      /not built in/,
    );
  });

  it("the same permission declared twice, differently, is refused", () => {
    expect(() =>
      mergePermissions([{ "probe:read": read }, { "probe:read": { ...read, roles: [] } }]),
    ).toThrow(/declared twice/);
  });

  it("every permission named in the services, the gateway and the console is declared", async () => {
    const declared = await boxPermissions();
    const named = new Set<string>();
    for (const dir of ["services", "appliance/gateway", "appliance/console/src"]) {
      for (const file of sources(join(ROOT, dir))) {
        for (const m of readFileSync(file, "utf8").matchAll(/"([a-z][a-z0-9-]*(?::[a-z][a-z0-9-]*){1,3})"/g))
          if (!m[1]!.startsWith("node:")) named.add(m[1]!);
      }
    }
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((p) => !Object.hasOwn(declared, p))).toEqual([]);
  });
});

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => /\.tsx?$/.test(f))
    .map((f) => join(dir, f));
}

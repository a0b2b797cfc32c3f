/**
 * The Ansible collection (ansible/, `nexus.edge`) is lint-clean: yamllint, and ansible-lint with the production
 * profile (FQCN, changed_when, no command where a module exists, …). Every role's variable is prefixed with the
 * role's name, documented in defaults/main.yml and described in meta/argument_specs.yml, and the two agree.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ansibleTool, COLLECTION, collectionsPath } from "../helpers/ansible.js";
import { removeDir } from "../helpers/appliance.js";

const collections = collectionsPath();
afterAll(() => removeDir(collections));

const ROLES = readdirSync(join(COLLECTION, "roles"));

/** Top-level keys of a YAML mapping file whose keys start at column 0 (defaults/main.yml's shape). */
function topKeys(file: string): string[] {
  return [...readFileSync(file, "utf8").matchAll(/^([a-z][a-z0-9_]*):/gm)].map((m) => m[1] as string);
}

/** Option names under argument_specs.main.options (six-space indented keys). */
function specOptions(file: string): string[] {
  return [...readFileSync(file, "utf8").matchAll(/^ {6}([a-z][a-z0-9_]*):$/gm)].map((m) => m[1] as string);
}

describe("the Ansible collection", () => {
  it("has the four roles", () => {
    expect(ROLES.sort()).toEqual(["appliance", "backup", "enroll", "hub"]);
  });

  it.each(ROLES)("role %s: every variable is prefixed, documented and in argument_specs", (role) => {
    const defaults = readFileSync(join(COLLECTION, "roles", role, "defaults/main.yml"), "utf8");
    const keys = topKeys(join(COLLECTION, "roles", role, "defaults/main.yml"));
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key.startsWith(`${role}_`), `${key} is not prefixed ${role}_`).toBe(true);
      expect(defaults, `${key} has no comment above it`).toMatch(
        new RegExp(`#[^\\n]*\\n(?:[a-z_]+:[^\\n]*\\n)*${key}:`),
      );
    }
    expect(specOptions(join(COLLECTION, "roles", role, "meta/argument_specs.yml")).sort()).toEqual(
      keys.sort(),
    );
  });

  it("passes yamllint", async () => {
    const r = await ansibleTool("yamllint", ["-s", "."], {}, 60_000);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 70_000);

  it("passes ansible-lint with the production profile", async () => {
    const r = await ansibleTool("ansible-lint", [], { ANSIBLE_COLLECTIONS_PATH: collections }, 240_000);
    expect(r.stderr + r.stdout).toMatch(/Passed with production profile: 0 failure\(s\), 0 warning\(s\)/);
    expect(r.code).toBe(0);
  }, 250_000);

  it("passes ansible-playbook --syntax-check on every playbook", async () => {
    const playbooks = readdirSync(join(COLLECTION, "playbooks")).map((p) => join("playbooks", p));
    const r = await ansibleTool(
      "ansible-playbook",
      ["--syntax-check", "-i", "inventory-sample.yml", ...playbooks],
      { ANSIBLE_COLLECTIONS_PATH: collections },
      120_000,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 130_000);
});

/**
 * People on a test appliance that runs identity: the first admin through the one-time setup link, users with
 * roles, teams, and bearer tokens, all through the real gateway.
 */
import { randomBytes } from "node:crypto";
import type { TestAppliance } from "./appliance.js";

export interface Person {
  id: string;
  username: string;
  password: string;
  token: string;
}

let count = 0;
export const newPassword = () => `Pw${++count}-${randomBytes(12).toString("base64url")}`;

async function json(res: Response, expected: number, what: string) {
  const text = await res.text();
  if (res.status !== expected) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

async function post(app: TestAppliance, path: string, body: unknown, token?: string) {
  return fetch(`${app.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

export async function login(app: TestAppliance, username: string, password: string): Promise<string> {
  const body = await json(await post(app, "/api/identity/login", { username, password }), 200, "login");
  return body.token as string;
}

/** Creates the first admin through the setup link and logs in. */
export async function setupAdmin(app: TestAppliance, username = "admin"): Promise<Person> {
  const first = await app.firstLogin();
  if (first.kind !== "setup") throw new Error(`expected a setup link, got ${first.kind}`);
  const token = new URL((first as { url: string }).url).searchParams.get("token")!;
  const password = newPassword();
  const r = await json(await post(app, "/api/identity/setup", { token, username, password }), 201, "setup");
  return { id: r.user?.id ?? r.id, username, password, token: await login(app, username, password) };
}

export async function addPerson(app: TestAppliance, admin: Person, username: string, roles: string[]) {
  const password = newPassword();
  const r = await json(
    await post(app, "/api/identity/users", { username, password, roles }, admin.token),
    201,
    "create user",
  );
  return { id: r.id as string, username, password, token: await login(app, username, password) };
}

/** A team with `members`; their tokens are refreshed so they carry the team. */
export async function addTeam(app: TestAppliance, admin: Person, name: string, members: Person[]) {
  const team = await json(await post(app, "/api/identity/teams", { name }, admin.token), 201, "create team");
  for (const m of members) {
    await json(
      await post(app, `/api/identity/teams/${team.id}/members`, { userId: m.id }, admin.token),
      200,
      "add member",
    );
    m.token = await login(app, m.username, m.password);
  }
  return team.id as string;
}

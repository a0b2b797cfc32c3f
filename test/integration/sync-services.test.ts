/**
 * Hub-managed users, roles and settings end to end: one hub process and one enrolled box running identity and
 * system. What the hub admin writes with `PUT /api/hub/data/...` reaches the box and is applied there by
 * identity's and system's `syncApply` handlers: newer versions win, replays of older ones change nothing,
 * local users and built-in roles are never overwritten, malformed records are skipped without blocking the
 * ones after them.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChangeRecord, hubDataSubject } from "../../appliance/sync/change.js";
import { hashPassword } from "../../services/identity/passwords.js";
import { removeDir, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { enrolledBox, type HubProcess, hubProcess } from "../helpers/hub.js";
import { addPerson, login, type Person, setupAdmin } from "../helpers/people.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field by the tests
type Body = any;

const SITE = "site-svc";
const WAIT = 30_000;
let hub: HubProcess;
let box: TestAppliance;
let admin: Person;

beforeAll(async () => {
  hub = await hubProcess();
  await hub.start();
  box = await enrolledBox(hub, SITE, ["identity", "system"]);
  admin = await setupAdmin(box);
}, 180_000);

afterAll(async () => {
  if (box) {
    await box.stop();
    removeDir(box.dataDir);
  }
  await hub?.stop();
  if (hub) removeDir(hub.dir);
});

const pw = () => `Hub-${randomBytes(12).toString("base64url")}`;

async function hubData(method: "PUT" | "DELETE", path: string, data?: unknown) {
  const r = await hub.api<{ record: { hlc: string } | null }>(
    method,
    `/api/hub/data/${path}`,
    method === "PUT" ? { data } : undefined,
  );
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.record;
}

async function call(path: string, token = admin.token, init: RequestInit = {}) {
  const res = await fetch(`${box.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, body: (await res.json()) as Body };
}

async function loginStatus(username: string, password: string): Promise<number> {
  const res = await fetch(`${box.url}/api/identity/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  await res.body?.cancel();
  return res.status;
}

async function role(name: string): Promise<Body | undefined> {
  const r = await call("/api/identity/roles");
  expect(r.status).toBe(200);
  return (r.body.roles as Body[]).find((x) => x.name === name);
}

async function usersNamed(username: string): Promise<Body[]> {
  const r = await call(`/api/identity/users?search=${encodeURIComponent(username)}`);
  expect(r.status).toBe(200);
  return (r.body.users as Body[]).filter((u: Body) => u.username.toLowerCase() === username.toLowerCase());
}

/**
 * Writes a throw-away role on the hub and waits for it on the box: every identity record the box received
 * before it has been applied (one consumer, in order).
 */
let markers = 0;
async function identityBarrier() {
  const name = `marker-${++markers}`;
  await hubData("PUT", `identity/roles/${name}`, { description: "barrier", permissions: [] });
  await waitFor(async () => (await role(name)) !== undefined, WAIT, name);
}

describe("hub-managed users and roles", () => {
  const alice = { hubId: "hub-user-alice", username: "alice", password: pw() };
  let firstVersion: ChangeRecord;

  it("a hub role, then a hub user with it: the user logs in on the box and has the role's permissions", async () => {
    await hubData("PUT", "identity/roles/settings-reader", {
      description: "Reads box settings",
      permissions: ["system:read"],
    });
    const data = {
      username: alice.username,
      displayName: "Alice from the hub",
      roles: ["settings-reader"],
      status: "active",
      passwordHash: await hashPassword(alice.password),
    };
    const rec = await hubData("PUT", `identity/users/${alice.hubId}`, data);
    firstVersion = {
      v: 1,
      id: "replay-of-first-version",
      site: "hub",
      service: "identity",
      collection: "users",
      key: alice.hubId,
      op: "upsert",
      hlc: rec!.hlc,
      data,
    };
    await waitFor(async () => (await loginStatus(alice.username, alice.password)) === 200, WAIT, "hub login");
    const token = await login(box, alice.username, alice.password);
    const me = await call("/api/identity/me", token);
    expect(me.body).toMatchObject({
      username: "alice",
      displayName: "Alice from the hub",
      source: "hub",
      roles: ["settings-reader"],
    });
    expect(me.body.permissions).toEqual(["system:read"]);
    expect((await call("/api/system/settings", token)).status).toBe(200);
    expect(
      (await call("/api/system/settings/x.y", token, { method: "PUT", body: '{"value":"1"}' })).status,
    ).toBe(403);
    const audit = await call("/api/identity/audit?actor=hub&action=user.created");
    expect(audit.body.entries).toEqual(
      expect.arrayContaining([expect.objectContaining({ actor: "hub", outcome: "success" })]),
    );
  }, 60_000);

  it("a newer version changes the roles; a replayed older version changes nothing", async () => {
    await hubData("PUT", "identity/roles/settings-editor", {
      description: "Edits box settings",
      permissions: ["system:read", "system:write"],
    });
    await hubData("PUT", `identity/users/${alice.hubId}`, {
      ...(firstVersion.data as object),
      roles: ["settings-editor"],
    });
    await waitFor(
      async () => (await usersNamed("alice"))[0]?.roles.join() === "settings-editor",
      WAIT,
      "new roles",
    );
    const token = await login(box, alice.username, alice.password);
    const put = await call("/api/system/settings/alice.was.here", token, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ value: "yes" }),
    });
    expect(put.status).toBe(200);

    // The first version again, straight into the box's hub stream (as a redelivery would bring it).
    const creds = JSON.parse(readFileSync(join(box.dataDir, "secrets", "nats.json"), "utf8"));
    const nc = await connect({
      servers: box.supervisor.natsState().url!,
      user: creds.user,
      pass: creds.pass,
    });
    try {
      await nc.jetstream().publish(hubDataSubject(SITE, "identity", "users"), JSON.stringify(firstVersion));
    } finally {
      await nc.close();
    }
    await identityBarrier();
    expect((await usersNamed("alice"))[0].roles).toEqual(["settings-editor"]);
  }, 60_000);

  it("a delete disables the user: their login fails and their session ends; the row stays", async () => {
    const token = await login(box, alice.username, alice.password);
    expect((await call("/api/identity/me", token)).status).toBe(200);
    await hubData("DELETE", `identity/users/${alice.hubId}`);
    await waitFor(async () => (await usersNamed("alice"))[0]?.status === "disabled", WAIT, "disabled");
    expect(await loginStatus(alice.username, alice.password)).not.toBe(200);
    // The session ended: its access token can no longer be renewed (the token itself lapses at its expiry,
    // as for a locally disabled account).
    const renew = await call("/api/identity/token", token, { method: "POST" });
    expect(renew.status).toBe(401);
    expect(renew.body.message).toContain("session ended");
  }, 60_000);

  it("a hub user named like a local user does not overwrite it", async () => {
    const bob = await addPerson(box, admin, "bob", ["viewer"]);
    const hubPassword = pw();
    await hubData("PUT", "identity/users/hub-user-bob", {
      username: "Bob",
      roles: ["settings-editor"],
      status: "active",
      passwordHash: await hashPassword(hubPassword),
    });
    await identityBarrier();
    const bobs = await usersNamed("bob");
    expect(bobs).toHaveLength(1);
    expect(bobs[0]).toMatchObject({ id: bob.id, source: "local", roles: ["viewer"], status: "active" });
    expect(await loginStatus("bob", hubPassword)).toBe(401);
    expect(await loginStatus("bob", bob.password)).toBe(200);
    const skipped = await call("/api/identity/audit?actor=hub&action=user.hub_skipped");
    expect(JSON.stringify(skipped.body)).toContain("a local user has this username");
  }, 60_000);

  it("a built-in role is never overwritten", async () => {
    const before = await role("viewer");
    await hubData("PUT", "identity/roles/viewer", { description: "everything!", permissions: ["*"] });
    await identityBarrier();
    expect(await role("viewer")).toEqual(before);
  }, 60_000);

  it("malformed data is skipped and the records after it still apply", async () => {
    await hubData("PUT", "identity/users/hub-user-broken", { username: 5, roles: "admin" });
    await hubData("PUT", "identity/roles/Not_A_Role", { description: "x", permissions: [] });
    await hubData("PUT", "identity/roles/bad-perms", {
      description: "x",
      permissions: ["no spaces allowed"],
    });
    const carol = { username: "carol", password: pw() };
    await hubData("PUT", "identity/users/hub-user-carol", {
      username: carol.username,
      roles: ["settings-reader"],
      status: "active",
      passwordHash: await hashPassword(carol.password),
    });
    await waitFor(async () => (await loginStatus(carol.username, carol.password)) === 200, WAIT, "carol");
    expect(await role("bad-perms")).toBeUndefined();
    expect((await usersNamed("carol"))[0]).toMatchObject({ source: "hub", roles: ["settings-reader"] });
  }, 60_000);

  it("a role that reaches the box after the user who has it is granted when it arrives", async () => {
    await hubData("PUT", "identity/users/hub-user-dave", {
      username: "dave",
      roles: ["late-role"],
      status: "active",
    });
    await waitFor(async () => (await usersNamed("dave")).length === 1, WAIT, "dave");
    expect((await usersNamed("dave"))[0].roles).toEqual([]);
    await hubData("PUT", "identity/roles/late-role", { description: "late", permissions: ["system:read"] });
    await waitFor(async () => (await usersNamed("dave"))[0].roles.join() === "late-role", WAIT, "granted");
  }, 60_000);

  it("a hub role is removed by a delete only once no user has it", async () => {
    await hubData("DELETE", "identity/roles/settings-reader");
    await hubData("DELETE", "identity/roles/marker-1");
    await waitFor(async () => (await role("marker-1")) === undefined, WAIT, "marker-1 deleted");
    expect(await role("settings-reader")).toBeDefined();
  }, 60_000);
});

describe("hub-managed settings", () => {
  it("a hub setting shows on the box; its delete removes it; bad keys are skipped", async () => {
    await hubData("PUT", "system/settings/Bad%20Key", { value: "x" });
    await hubData("PUT", "system/settings/box.region", { value: 42 });
    await hubData("PUT", "system/settings/box.label", { value: "Depot 7" });
    await waitFor(
      async () => (await call("/api/system/settings/box.label")).body.value === "Depot 7",
      WAIT,
      "setting",
    );
    expect((await call("/api/system/settings/box.region")).status).toBe(404);
    await hubData("PUT", "system/settings/box.label", { value: "Depot 8" });
    await waitFor(
      async () => (await call("/api/system/settings/box.label")).body.value === "Depot 8",
      WAIT,
      "newer value",
    );
    await hubData("DELETE", "system/settings/box.label");
    await waitFor(async () => (await call("/api/system/settings/box.label")).status === 404, WAIT, "deleted");
  }, 60_000);
});

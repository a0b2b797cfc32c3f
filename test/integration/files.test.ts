/**
 * The files service through the real gateway, with identity for real users, roles and teams: uploads,
 * downloads with ranges and ETags, versions, folders, trash, hostile names, concurrency, quotas, permissions,
 * share links, resumable uploads (including a dropped connection and a kill -9 of the service) and events.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { enc, filesCall, type Res, sha256 } from "../helpers/files.js";
import { addPerson, addTeam, login, type Person, setupAdmin } from "../helpers/people.js";

let app: TestAppliance;
let admin: Person;
let alice: Person;
let bob: Person;
let vera: Person;
let teamId: string;

beforeAll(async () => {
  app = await startTestAppliance({
    services: ["identity", "files"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" },
  });
  admin = await setupAdmin(app);
  alice = await addPerson(app, admin, "alice", ["field-agent"]);
  bob = await addPerson(app, admin, "bob", ["field-agent"]);
  vera = await addPerson(app, admin, "vera", ["viewer"]);
  teamId = await addTeam(app, admin, "crew", [alice, bob]);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

const as = (p: Person | null) => p?.token ?? null;
const call = (p: Person | null, method: string, path: string, opts?: Parameters<typeof filesCall>[4]) =>
  filesCall(app, as(p), method, path, opts);
const put = (p: Person, path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  call(p, "PUT", `/spaces/me/content/${enc(path)}`, { body, headers });
const get = (p: Person, path: string, headers: Record<string, string> = {}) =>
  call(p, "GET", `/spaces/me/content/${enc(path)}`, { headers });
const list = async (p: Person, folder = "", space = "me") =>
  (await call(p, "GET", `/spaces/${space}/list/${enc(folder)}`)).body.items as {
    name: string;
    kind: string;
  }[];

function expectError(r: Res, status: number, message?: string) {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expect(Object.keys(r.body).sort()).toEqual(["data", "message", "status"]);
  expect(r.body.status).toBe(status);
  if (message) expect(r.body.message).toContain(message);
}

const filesDir = () => join(app.dataDir, "services", "files");
const stagingLeft = () => readdirSync(join(filesDir(), "staging"));
function blobCount(): number {
  const root = join(filesDir(), "blobs");
  let n = 0;
  for (const a of readdirSync(root).filter((d) => /^[0-9a-f]{2}$/.test(d))) {
    for (const b of readdirSync(join(root, a))) n += readdirSync(join(root, a, b)).length;
  }
  return n;
}
function db() {
  return new Database(join(filesDir(), "files.db"), { timeout: 10_000 });
}

describe("upload and download", () => {
  it("stores a file, shows its sha256 and serves it back with ETag and safe headers", async () => {
    const content = "hello, field team\n";
    const up = await put(alice, "notes/hello.txt", content, { "content-type": "text/plain; charset=utf-8" });
    expect(up.status, up.text).toBe(201);
    expect(up.body.file).toMatchObject({
      path: "notes/hello.txt",
      name: "hello.txt",
      kind: "file",
      size: content.length,
      sha256: sha256(content),
      contentType: "text/plain",
      version: 1,
    });
    const down = await get(alice, "notes/hello.txt");
    expect(down.status, down.text).toBe(200);
    expect(down.text).toBe(content);
    expect(down.headers.get("etag")).toBe(`"${sha256(content)}"`);
    expect(down.headers.get("x-content-sha256")).toBe(sha256(content));
    expect(down.headers.get("content-disposition")).toMatch(/^attachment; filename="hello.txt"/);
    expect(down.headers.get("content-security-policy")).toContain("sandbox");
    expect(down.headers.get("x-content-type-options")).toBe("nosniff");
    const head = await call(alice, "HEAD", `/spaces/me/content/notes/hello.txt`);
    expect(head.status, head.text).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(content.length));
    expect(head.text).toBe("");
  });

  it("names any name safely in Content-Disposition (RFC 8187: ' ( ) * are encoded too)", async () => {
    const name = `it's (1) *draft* "q" 100% naïve;x.txt`;
    expect((await put(alice, `cd/${name}`, "x")).status).toBe(201);
    const cd = (await get(alice, `cd/${name}`)).headers.get("content-disposition")!;
    const m = /^attachment; filename="([^"\\]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+.^_`|~%-]*)$/.exec(cd);
    expect(m, cd).not.toBeNull();
    expect(decodeURIComponent(m![2]!)).toBe(name);
  });

  it("answers 304 to If-None-Match with the current ETag", async () => {
    const etag = (await get(alice, "notes/hello.txt")).headers.get("etag")!;
    expect((await get(alice, "notes/hello.txt", { "if-none-match": etag })).status).toBe(304);
    expect((await get(alice, "notes/hello.txt", { "if-none-match": `"${"0".repeat(64)}"` })).status).toBe(
      200,
    );
  });

  it("stores an empty file and a binary file byte for byte", async () => {
    expect((await put(alice, "empty.bin", "")).status).toBe(201);
    expect((await get(alice, "empty.bin")).text).toBe("");
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    const up = await put(alice, "bin/blob.bin", bytes);
    expect(up.body.file.sha256).toBe(sha256(bytes));
    const res = await fetch(`${app.url}/api/files/spaces/me/content/bin/blob.bin`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("verifies x-content-sha256 and stores nothing when it does not match", async () => {
    const ok = await put(alice, "checked.txt", "abc", { "x-content-sha256": sha256("abc") });
    expect(ok.status).toBe(201);
    const bad = await put(alice, "checked.txt", "abd", { "x-content-sha256": sha256("abc") });
    expectError(bad, 422, "does not match");
    expect((await get(alice, "checked.txt")).text).toBe("abc");
    expectError(await put(alice, "checked.txt", "x", { "x-content-sha256": "nothex" }), 400);
    expect(stagingLeft()).toEqual([]);
  });

  it("honours If-None-Match: * and If-Match", async () => {
    expectError(await put(alice, "checked.txt", "new", { "if-none-match": "*" }), 412);
    expectError(await put(alice, "checked.txt", "new", { "if-match": `"${sha256("zzz")}"` }), 412);
    const ok = await put(alice, "checked.txt", "new", { "if-match": `"${sha256("abc")}"` });
    expect(ok.status).toBe(200);
    expect(ok.body.file.version).toBe(2);
    expectError(await put(alice, "never-there.txt", "x", { "if-match": "*" }), 412);
  });

  it("If-Match compares strongly: a weak ETag, even the current one, is 412 and changes nothing", async () => {
    const v1 = (await put(alice, "weak.txt", "one")).body.file;
    for (const tag of [`W/"${v1.sha256}"`, `W/"${v1.sha256}", W/"x"`, 'W/"anything"']) {
      expectError(await put(alice, "weak.txt", "two", { "if-match": tag }), 412, "weak");
      expectError(await put(alice, "weak-new.txt", "two", { "if-match": tag }), 412, "weak");
    }
    expect((await get(alice, "weak.txt")).text).toBe("one");
    expect((await call(alice, "GET", `/nodes/${v1.id}/versions`)).body.versions).toHaveLength(1);
    expectError(await get(alice, "weak-new.txt"), 404);
    // A list matches when one of its strong tags does; the weak ones in it are skipped.
    const ok = await put(alice, "weak.txt", "two", { "if-match": `W/"${v1.sha256}", "${v1.sha256}"` });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.file.version).toBe(2);
    expectError(await put(alice, "weak.txt", "three", { "if-match": `"${v1.sha256}", W/"x"` }), 412);
    expectError(await put(alice, "weak.txt", "three", { "if-match": 'W/"x", "not-a-sha"' }), 400);
  });
});

describe("ranges", () => {
  const content = "0123456789abcdefghijklmnopqrstuvwxyz";
  beforeAll(async () => {
    expect((await put(alice, "range.txt", content)).status).toBe(201);
  });
  const RANGES: [string, number, string, string | null][] = [
    ["bytes=0-0", 206, "0", "bytes 0-0/36"],
    ["bytes=35-35", 206, "z", "bytes 35-35/36"],
    ["bytes=10-15", 206, "abcdef", "bytes 10-15/36"],
    ["bytes=30-", 206, "uvwxyz", "bytes 30-35/36"],
    ["bytes=-4", 206, "wxyz", "bytes 32-35/36"],
    ["bytes=30-999", 206, "uvwxyz", "bytes 30-35/36"],
    ["bytes=0-1,5-6", 200, content, null],
    ["bytes=5-2", 200, content, null],
    ["items=0-5", 200, content, null],
  ];
  it.each(RANGES)("Range %s → %i", async (range, status, body, contentRange) => {
    const r = await get(alice, "range.txt", { range });
    expect(r.status).toBe(status);
    expect(r.text).toBe(body);
    expect(r.headers.get("content-range")).toBe(contentRange);
  });
  it("an unsatisfiable range → 416 with the size", async () => {
    const r = await get(alice, "range.txt", { range: "bytes=36-40" });
    expectError(r, 416);
    expect(r.headers.get("content-range")).toBe("bytes */36");
  });
  it("If-Range with another ETag sends the whole file", async () => {
    const r = await get(alice, "range.txt", { range: "bytes=0-1", "if-range": `"${"1".repeat(64)}"` });
    expect(r.status).toBe(200);
    expect(r.text).toBe(content);
  });
});

describe("versions", () => {
  it("keeps previous versions, serves any of them and restores one as the newest", async () => {
    await put(alice, "v/report.txt", "first");
    const second = await put(alice, "v/report.txt", "second");
    expect(second.status).toBe(200);
    expect(second.body.file.version).toBe(2);
    const id = second.body.file.id;
    const versions = await call(alice, "GET", `/nodes/${id}/versions`);
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect(versions.body.versions[1].sha256).toBe(sha256("first"));
    expect((await get(alice, "v/report.txt")).text).toBe("second");
    expect((await call(alice, "GET", `/spaces/me/content/v/report.txt?version=1`)).text).toBe("first");
    expectError(await call(alice, "GET", `/spaces/me/content/v/report.txt?version=9`), 404);
    expectError(await call(alice, "GET", `/spaces/me/content/v/report.txt?version=x`), 400);
    const restored = await call(alice, "POST", `/nodes/${id}/versions/1/restore`);
    expect(restored.body.file.version).toBe(3);
    expect((await get(alice, "v/report.txt")).text).toBe("first");
  });
});

describe("folders, moves and metadata", () => {
  it("creates folders with parents, lists folders first, refuses a file in the way", async () => {
    const f = await call(alice, "POST", "/spaces/me/folders", { body: { path: "tree/a/b" } });
    expect(f.status, f.text).toBe(201);
    expect(f.body.folder.path).toBe("tree/a/b");
    expect((await call(alice, "POST", "/spaces/me/folders", { body: { path: "tree/a/b" } })).status).toBe(
      200,
    );
    await put(alice, "tree/file.txt", "x");
    expect((await list(alice, "tree")).map((i) => `${i.kind}:${i.name}`)).toEqual([
      "folder:a",
      "file:file.txt",
    ]);
    expectError(await call(alice, "POST", "/spaces/me/folders", { body: { path: "tree/file.txt/c" } }), 409);
    expectError(await put(alice, "tree/a", "x"), 409, "folder");
    expectError(await call(alice, "GET", "/spaces/me/list/nowhere"), 404);
    expectError(await call(alice, "GET", "/spaces/me/list/tree/file.txt"), 404);
  });

  it("renames, moves, refuses cycles and taken names, and stores metadata", async () => {
    const file = (await put(alice, "mv/src.txt", "move me")).body.file;
    await call(alice, "POST", "/spaces/me/folders", { body: { path: "mv/dst" } });
    const moved = await call(alice, "PATCH", `/nodes/${file.id}`, {
      body: { name: "moved.txt", parentPath: "mv/dst", metadata: { site: "north", count: 3 } },
    });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body.node).toMatchObject({
      path: "mv/dst/moved.txt",
      metadata: { site: "north", count: 3 },
    });
    expect((await get(alice, "mv/dst/moved.txt")).text).toBe("move me");
    const folder = (await call(alice, "POST", "/spaces/me/folders", { body: { path: "mv/dst/inner" } })).body
      .folder;
    const dst = (await list(alice, "mv")) as unknown as { id: string; name: string }[];
    const dstId = dst.find((i) => i.name === "dst")!.id;
    expectError(await call(alice, "PATCH", `/nodes/${dstId}`, { body: { parentPath: "mv/dst/inner" } }), 400);
    await put(alice, "mv/dst/taken.txt", "t");
    expectError(await call(alice, "PATCH", `/nodes/${file.id}`, { body: { name: "taken.txt" } }), 409);
    expectError(await call(alice, "PATCH", `/nodes/${folder.id}`, { body: {} }), 400);
    expectError(await call(alice, "PATCH", `/nodes/${file.id}`, { body: { name: "a/b" } }), 400);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
    expectError(await call(alice, "PATCH", `/nodes/${file.id}`, { body: { metadata: many } }), 400);
    expectError(
      await call(alice, "PATCH", `/nodes/${file.id}`, { body: { metadata: { a: { b: 1 } } } }),
      400,
    );
    // ai.* keys are the AI service's results: nobody writes them through the API.
    expectError(
      await call(alice, "PATCH", `/nodes/${file.id}`, { body: { metadata: { "ai.flagged": 0 } } }),
      400,
    );
  });
});

describe("path limits on moves", () => {
  const chain = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join("/");
  const idOf = async (folder: string, name: string) =>
    ((await list(alice, folder)) as unknown as { id: string; name: string }[]).find((i) => i.name === name)!
      .id;

  it("a move or rename that would put something past 64 levels or 4096 bytes is refused", async () => {
    await call(alice, "POST", "/spaces/me/folders", { body: { path: `deep/${chain("a", 40)}` } });
    expect((await put(alice, `deep2/${chain("b", 30)}/leaf.txt`, "leaf")).status).toBe(201);
    const b0 = await idOf("deep2", "b0");
    expectError(
      await call(alice, "PATCH", `/nodes/${b0}`, { body: { parentPath: `deep/${chain("a", 40)}` } }),
      400,
      "64",
    );
    // Short enough in levels, too long in bytes once the folder's name grows.
    const wide = Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(200, "w")).join("/");
    const leaf = `${"l".repeat(32)}.txt`; // the whole path: 4061 bytes
    expect((await put(alice, `wide/${wide}/${leaf}`, "leaf")).status).toBe(201);
    const wideTop = await idOf("wide", `${"0".padEnd(200, "w")}`);
    expectError(await call(alice, "PATCH", `/nodes/${wideTop}`, { body: { name: "n".repeat(255) } }), 400);
    expect((await get(alice, `deep2/${chain("b", 30)}/leaf.txt`)).text).toBe("leaf");
    expect((await get(alice, `wide/${wide}/${leaf}`)).text).toBe("leaf");
  });
});

describe("trash", () => {
  it("trashes, restores and purges; a folder goes and comes back with its contents", async () => {
    await put(alice, "t/keep/one.txt", "one");
    await put(alice, "t/keep/two.txt", "two");
    const folderId = ((await list(alice, "t")) as unknown as { id: string }[])[0]!.id;
    const del = await call(alice, "DELETE", `/nodes/${folderId}`);
    expect(del.status).toBe(200);
    expect(await list(alice, "t")).toEqual([]);
    expectError(await get(alice, "t/keep/one.txt"), 404);
    const trash = await call(alice, "GET", "/trash");
    expect(trash.body.items.map((i: { id: string }) => i.id)).toContain(folderId);
    expect((await call(alice, "POST", `/nodes/${folderId}/restore`)).status).toBe(200);
    expect((await get(alice, "t/keep/two.txt")).text).toBe("two");
    expectError(await call(alice, "POST", `/nodes/${folderId}/restore`), 404);
  });

  it("restore refuses when the name is taken again", async () => {
    const first = (await put(alice, "t/dup.txt", "old")).body.file;
    await call(alice, "DELETE", `/nodes/${first.id}`);
    await put(alice, "t/dup.txt", "new");
    expectError(await call(alice, "POST", `/nodes/${first.id}/restore`), 409);
  });

  it("the retention sweep purges old trash once per item, with its path, nested items included", async () => {
    await put(alice, "old/inner/one.txt", "old one");
    await put(alice, "old/two.txt", "old two");
    const folderId = ((await list(alice)) as unknown as { id: string; name: string }[]).find(
      (i) => i.name === "old",
    )!.id;
    const one = ((await list(alice, "old/inner")) as unknown as { id: string }[])[0]!.id;
    await call(alice, "DELETE", `/nodes/${one}`); // trashed on its own first, then with its folder
    await call(alice, "DELETE", `/nodes/${folderId}`);
    const d = db();
    const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
    const age = d.prepare("UPDATE nodes SET deleted_at = ? WHERE trashed_with = ?");
    age.run(daysAgo(41), one);
    age.run(daysAgo(40), folderId);
    d.close();
    const pid = app.supervisor.status().find((s) => s.name === "files")!.pid!;
    process.kill(pid, "SIGKILL"); // the sweep runs when the service starts
    await waitFor(() => {
      const s = app.supervisor.status().find((x) => x.name === "files");
      return s?.state === "running" && s.pid !== pid;
    }, 30_000);
    expectError(await call(alice, "POST", `/nodes/${folderId}/restore`), 404);
    const e = db();
    const purged = (
      e.prepare("SELECT payload FROM _outbox WHERE subject = 'nexus.files.deleted'").all() as {
        payload: string;
      }[]
    )
      .map((r) => JSON.parse(r.payload).data)
      .filter((x) => x.purged && x.by === "retention");
    e.close();
    expect(purged.filter((x) => x.nodeId === folderId)).toMatchObject([{ path: "old" }]);
    expect(purged.filter((x) => x.nodeId === one)).toMatchObject([{ path: "old/inner/one.txt" }]);
  });

  it("purge drops the content unless another file has the same bytes", async () => {
    const unique = `unique ${Date.now()}`;
    const a = (await put(alice, "p/a.txt", unique)).body.file;
    const b = (await put(alice, "p/b.txt", unique)).body.file;
    const before = blobCount();
    await call(alice, "DELETE", `/nodes/${a.id}`);
    expect((await call(alice, "DELETE", `/trash/${a.id}`)).status).toBe(200);
    expect(blobCount()).toBe(before); // b still uses it
    expect((await get(alice, "p/b.txt")).text).toBe(unique);
    await call(alice, "DELETE", `/nodes/${b.id}`);
    await call(alice, "DELETE", `/trash/${b.id}`);
    expect(blobCount()).toBe(before - 1);
    expectError(await call(alice, "DELETE", `/trash/${b.id}`), 404);
    expectError(await call(alice, "GET", `/nodes/${b.id}`), 404);
  });
});

describe("blob garbage collection", () => {
  it("a purge never deletes content that an upload made while it ran references again", async () => {
    const bodies = Array.from({ length: 60 }, (_, i) => `gc ${i} ${"x".repeat(i)}`);
    await Promise.all(bodies.map((b, i) => put(alice, `gc/f${i}.txt`, b)));
    const folder = (await list(alice)).find((i) => i.name === "gc") as unknown as { id: string };
    expect((await call(alice, "DELETE", `/nodes/${folder.id}`)).status).toBe(200);
    // The purge deletes its blobs one by one; the same bytes arrive again meanwhile, under new names.
    const again = bodies.slice(30).reverse();
    const [purged, ...ups] = await Promise.all([
      call(alice, "DELETE", `/trash/${folder.id}`),
      ...again.map((b, i) => put(alice, `gc-again/g${i}.txt`, b)),
    ]);
    expect(purged!.status).toBe(200);
    for (const up of ups) expect(up.status).toBe(201);
    for (const [i, b] of again.entries()) {
      const r = await get(alice, `gc-again/g${i}.txt`);
      expect(r.status, `gc-again/g${i}.txt: ${r.text.slice(0, 100)}`).toBe(200);
      expect(r.text).toBe(b);
    }
  });
});

describe("hostile names", () => {
  const RAW_PATHS: [string, string][] = [
    ["dot-dot", "a/../b.txt"],
    ["encoded dot-dot", "a/%2e%2e/b.txt"],
    ["dot", "./b.txt"],
    ["encoded slash", "a%2Fb.txt"],
    ["encoded backslash", "a%5Cb.txt"],
    ["NUL", "a%00b.txt"],
    ["control character", "a%01b.txt"],
    ["DEL", "a%7Fb.txt"],
    ["empty segment", "a//b.txt"],
    ["bidi override", "gpj.%E2%80%AEexe"],
    ["4 KB name", "x".repeat(4096)],
    ["256-byte name", "é".repeat(128)],
    ["malformed escape", "a%zzb.txt"],
  ];
  it.each(RAW_PATHS)("PUT with %s → 400, nothing stored", async (_n, raw) => {
    const before = await list(alice);
    // Sent exactly as written: fetch would normalise dot segments away before they left the client.
    const status = await rawPut(`/api/files/spaces/me/content/${raw}`, alice.token, "evil");
    expect(status).toBe(400);
    expect(await list(alice)).toEqual(before);
  });

  const JSON_PATHS: [string, string][] = [
    ["absolute", "/etc/passwd"],
    ["climbing", "../../etc/passwd"],
    ["NUL", "a\u0000b"],
    ["newline", "a\nb"],
    ["backslash", "..\\..\\windows"],
    ["only spaces", "   "],
    ["deep", Array.from({ length: 70 }, () => "d").join("/")],
  ];
  it.each(JSON_PATHS)("folder and upload paths: %s → 400", async (_n, path) => {
    expectError(await call(alice, "POST", "/spaces/me/folders", { body: { path } }), 400);
    expectError(await call(alice, "POST", "/uploads", { body: { space: "me", path, size: 1 } }), 400);
  });

  it("a 255-byte name is fine", async () => {
    const name = `${"n".repeat(251)}.txt`;
    expect((await put(alice, name, "ok")).status).toBe(201);
  });

  it("Unicode twins (NFC and NFD) are one file", async () => {
    const nfc = "caf\u00e9.txt";
    const nfd = "cafe\u0301.txt";
    expect((await put(alice, `twins/${nfc}`, "one")).status).toBe(201);
    const second = await put(alice, `twins/${nfd}`, "two");
    expect(second.status).toBe(200);
    expect(second.body.file.version).toBe(2);
    expect((await list(alice, "twins")).map((i) => i.name)).toEqual([nfc]);
    expect((await get(alice, `twins/${nfd}`)).text).toBe("two");
  });

  it("malformed, oversized and unknown JSON is refused", async () => {
    const bad = await call(alice, "POST", "/uploads", {
      body: "{nope",
      headers: { "content-type": "application/json" },
    });
    expect(bad.status).toBe(400);
    expectError(
      await call(alice, "POST", "/uploads", { body: { space: "me", path: "x", size: 1, extra: 1 } }),
      400,
    );
    expectError(await call(alice, "POST", "/uploads", { body: { space: "me", path: "x", size: -1 } }), 400);
    expectError(
      await call(alice, "POST", "/uploads", { body: { space: "me; DROP TABLE nodes", path: "x", size: 1 } }),
      400,
    );
    const huge = await call(alice, "POST", "/spaces/me/folders", {
      body: { path: "x".repeat(20 * 1024 * 1024) },
    });
    expect(huge.status).toBe(413);
    expectError(await call(alice, "GET", "/nodes/' OR 1=1 --"), 400);
  });
});

describe("concurrency", () => {
  it("concurrent uploads to one path all land as versions; the file is one of them, intact", async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => `writer ${i} `.repeat(5000 + i));
    const results = await Promise.all(bodies.map((b) => put(alice, "race/one.txt", b)));
    for (const r of results) expect([200, 201]).toContain(r.status);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    const id = results[0]!.body.file.id;
    const versions = (await call(alice, "GET", `/nodes/${id}/versions`)).body.versions;
    expect(versions).toHaveLength(8);
    expect(new Set(versions.map((v: { sha256: string }) => v.sha256))).toEqual(new Set(bodies.map(sha256)));
    const final = await get(alice, "race/one.txt");
    expect(bodies).toContain(final.text);
    expect(final.headers.get("etag")).toBe(`"${sha256(final.text)}"`);
    expect(stagingLeft()).toEqual([]);
  });

  it("concurrent folder creation makes one folder: one 201, the others 200 like a sequential repeat", async () => {
    const rs = await Promise.all(
      Array.from({ length: 20 }, () => call(alice, "POST", "/spaces/me/folders", { body: { path: "cc/x" } })),
    );
    expect(rs.filter((r) => r.status === 201)).toHaveLength(1);
    expect(rs.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(rs.map((r) => r.body.folder.id)).size).toBe(1);
    expect((await list(alice, "cc")).length).toBe(1);
    const d = db();
    const rows = d.prepare("SELECT COUNT(*) AS n FROM nodes WHERE name IN ('cc', 'x')").get() as {
      n: number;
    };
    d.close();
    expect(rows.n).toBe(2);
  });

  it("a folder another writer of the database creates at the same moment is the duplicate answer", async () => {
    // A second connection holds the write lock with the folder inserted but not committed yet: the request
    // must wait for it and then see the folder (200), not decide from a stale read (a second 201, or a 500).
    const d = db();
    const t = new Date().toISOString();
    d.prepare("BEGIN IMMEDIATE").run();
    try {
      d.prepare(
        `INSERT INTO nodes (id, space, parent_id, name, kind, created_by, created_at, updated_at)
         VALUES (?, ?, NULL, 'cc-other', 'folder', ?, ?, ?)`,
      ).run(randomUUID(), `user:${alice.id}`, alice.id, t, t);
      const pending = call(alice, "POST", "/spaces/me/folders", { body: { path: "cc-other" } });
      await new Promise((r) => setTimeout(r, 300));
      d.prepare("COMMIT").run();
      const r = await pending;
      expect(r.status, r.text).toBe(200);
    } finally {
      if (d.inTransaction) d.prepare("ROLLBACK").run();
      d.close();
    }
    expect((await list(alice)).filter((i) => i.name === "cc-other")).toHaveLength(1);
  });

  it("a file another writer of the database creates at the same moment gets the upload as its next version", async () => {
    // As above, for content: the version is decided after the other writer's commit, not from a stale read.
    const d = db();
    const t = new Date().toISOString();
    const id = randomUUID();
    const sha = sha256("written by the other writer");
    d.prepare("BEGIN IMMEDIATE").run();
    try {
      d.prepare(
        `INSERT INTO nodes (id, space, parent_id, name, kind, version, size, sha256, content_type, created_by,
           created_at, updated_at) VALUES (?, ?, NULL, 'cc-file.txt', 'file', 1, 27, ?, 'text/plain', ?, ?, ?)`,
      ).run(id, `user:${alice.id}`, sha, alice.id, t, t);
      d.prepare(
        `INSERT INTO versions (node_id, version, sha256, size, content_type, created_by, created_at)
         VALUES (?, 1, ?, 27, 'text/plain', ?, ?)`,
      ).run(id, sha, alice.id, t);
      const pending = put(alice, "cc-file.txt", "the upload");
      await new Promise((r) => setTimeout(r, 300));
      d.prepare("COMMIT").run();
      const r = await pending;
      expect(r.status, r.text).toBe(200);
      expect(r.body.file).toMatchObject({ id, version: 2 });
    } finally {
      if (d.inTransaction) d.prepare("ROLLBACK").run();
      d.close();
    }
  });
});

describe("permissions", () => {
  let secretPath: string;
  let secretId: string;
  beforeAll(async () => {
    secretPath = "private/diary.txt";
    secretId = (await put(alice, secretPath, "alice only")).body.file.id;
  });

  it("another user cannot read, list, change or share a private file", async () => {
    const space = `user:${alice.id}`;
    expectError(await call(bob, "GET", `/spaces/${space}/content/${secretPath}`), 403);
    expectError(await call(bob, "GET", `/spaces/${space}/list/private`), 403);
    expectError(await call(bob, "PUT", `/spaces/${space}/content/private/x.txt`, { body: "x" }), 403);
    expectError(await call(bob, "GET", `/nodes/${secretId}`), 404);
    expectError(await call(bob, "GET", `/nodes/${secretId}/versions`), 404);
    expectError(await call(bob, "DELETE", `/nodes/${secretId}`), 404);
    expectError(
      await call(bob, "POST", `/nodes/${secretId}/shares`, { body: { expiresInSeconds: 600 } }),
      404,
    );
    expect((await get(alice, secretPath)).text).toBe("alice only");
  });

  it("anonymous callers get 401; a viewer reads but cannot write", async () => {
    expectError(await call(null, "GET", "/spaces"), 401);
    expectError(await call(null, "PUT", "/spaces/me/content/a.txt", { body: "x" }), 401);
    expect((await call(vera, "GET", "/spaces")).status).toBe(200);
    expectError(await call(vera, "PUT", "/spaces/me/content/a.txt", { body: "x" }), 403);
    expectError(await call(vera, "POST", "/uploads", { body: { space: "me", path: "a", size: 1 } }), 403);
  });

  it("team members share the team's space; others do not; admins see everything", async () => {
    const team = `team:${teamId}`;
    const up = await call(alice, "PUT", `/spaces/${team}/content/plan.txt`, { body: "team plan" });
    expect(up.status, up.text).toBe(201);
    expect((await call(bob, "GET", `/spaces/${team}/content/plan.txt`)).text).toBe("team plan");
    expect((await call(bob, "GET", "/spaces")).body.spaces.map((s: { id: string }) => s.id)).toContain(team);
    expectError(await call(vera, "GET", `/spaces/${team}/content/plan.txt`), 403);
    expect((await call(admin, "GET", `/spaces/user:${alice.id}/content/${secretPath}`)).text).toBe(
      "alice only",
    );
    expectError(await call(alice, "GET", "/spaces/team:not a team/list"), 400);
  });
});

describe("leaving a team", () => {
  it("someone removed from a team can no longer send bytes into its space through an upload they began", async () => {
    const carl = await addPerson(app, admin, "carl", ["field-agent"]);
    const team = await addTeam(app, admin, "temps", [carl]);
    const u = (
      await call(carl, "POST", "/uploads", { body: { space: `team:${team}`, path: "late.bin", size: 4 } })
    ).body.upload;
    const removed = await fetch(`${app.url}/api/identity/teams/${team}/members/${carl.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${admin.token}` },
    });
    expect(removed.status).toBe(200);
    carl.token = await login(app, carl.username, carl.password);
    expectError(await call(carl, "GET", `/spaces/team:${team}/list`), 403);
    const patch = await call(carl, "PATCH", `/uploads/${u.id}`, {
      body: "late",
      headers: { "upload-offset": "0" },
    });
    expectError(patch, 403);
    expectError(await call(admin, "GET", `/spaces/team:${team}/content/late.bin`), 404);
    // Still theirs to abandon, so the team's quota is not held for a day.
    expect((await call(carl, "DELETE", `/uploads/${u.id}`)).status).toBe(200);
  });
});

describe("quotas", () => {
  it("restoring an old version counts against the quota", async () => {
    const first = (await put(alice, "qv/old.bin", Buffer.alloc(500, 1))).body.file;
    await put(alice, "qv/old.bin", Buffer.alloc(10, 2));
    const used = (await call(alice, "GET", "/spaces")).body.spaces[0].usedBytes as number;
    await call(admin, "PUT", `/quotas/user:${alice.id}`, { body: { bytes: used + 100 } });
    expectError(await call(alice, "POST", `/nodes/${first.id}/versions/1/restore`), 507);
    expect((await get(alice, "qv/old.bin")).text).toBe(Buffer.alloc(10, 2).toString());
    await call(admin, "PUT", `/quotas/user:${alice.id}`, { body: { bytes: null } });
    expect((await call(alice, "POST", `/nodes/${first.id}/versions/1/restore`)).status).toBe(200);
  });

  it("only files:admin sets quotas; uploads past one get 507 and store nothing", async () => {
    expectError(await call(bob, "PUT", `/quotas/user:${bob.id}`, { body: { bytes: 1000 } }), 403);
    const set = await call(admin, "PUT", `/quotas/user:${bob.id}`, { body: { bytes: 1000 } });
    expect(set.status, set.text).toBe(200);
    expect((await put(bob, "q/a.bin", Buffer.alloc(600, 1))).status).toBe(201);
    const over = await put(bob, "q/b.bin", Buffer.alloc(600, 2));
    expectError(over, 507, "quota");
    expect(over.body.data.reason).toBe("quota");
    // No content-length: stopped while streaming.
    const chunked = await fetch(`${app.url}/api/files/spaces/me/content/q/c.bin`, {
      method: "PUT",
      headers: { authorization: `Bearer ${bob.token}` },
      body: new Blob([Buffer.alloc(900, 3)]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(507);
    expectError(
      await call(bob, "POST", "/uploads", { body: { space: "me", path: "q/d.bin", size: 500 } }),
      507,
    );
    expect((await list(bob, "q")).map((i) => i.name)).toEqual(["a.bin"]);
    const spaces = (await call(bob, "GET", "/spaces")).body.spaces;
    expect(spaces[0]).toMatchObject({ usedBytes: 600, quotaBytes: 1000 });
    expect(stagingLeft()).toEqual([]);
  });

  it("concurrent uploads cannot overshoot a quota together", async () => {
    await call(admin, "PUT", `/quotas/user:${bob.id}`, { body: { bytes: 2600 } }); // 600 used: room for 2
    const rs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => put(bob, `qc/${i}.bin`, Buffer.alloc(1000, i))),
    );
    expect(rs.map((r) => r.status).sort()).toEqual([201, 201, 507, 507, 507, 507]);
    const spaces = (await call(bob, "GET", "/spaces")).body.spaces;
    expect(spaces[0]).toMatchObject({ usedBytes: 2600, quotaBytes: 2600 });
    expect(stagingLeft()).toEqual([]);
    await call(admin, "PUT", `/quotas/user:${bob.id}`, { body: { bytes: null } });
  });
});

describe("share links", () => {
  let fileId: string;
  beforeAll(async () => {
    fileId = (await put(alice, "share/photo.txt", "shared bytes")).body.file.id;
  });
  const anon = (url: string, init: RequestInit = {}) => fetch(`${app.url}${url}`, init);
  const share = (body: object) => call(alice, "POST", `/nodes/${fileId}/shares`, { body });

  it("anyone with the link downloads; a tampered link is unknown; a revoked one is gone", async () => {
    const s = (await share({ expiresInSeconds: 600 })).body.share;
    expect(s.url).toMatch(/^\/api\/files\/s\/[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    const ok = await anon(s.url);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("shared bytes");
    const ranged = await anon(s.url, { headers: { range: "bytes=0-5" } });
    expect(await ranged.text()).toBe("shared");
    const last = s.url.at(-1) === "A" ? "B" : "A";
    expect((await anon(s.url.slice(0, -1) + last)).status).toBe(404);
    expect((await anon("/api/files/s/garbage")).status).toBe(404);
    expect((await anon(`/api/files/s/${"A".repeat(22)}.${"B".repeat(43)}`)).status).toBe(404);
    expect((await call(alice, "GET", "/shares")).body.shares.map((x: { id: string }) => x.id)).toContain(
      s.id,
    );
    expectError(await call(bob, "DELETE", `/shares/${s.id}`), 404);
    expect((await call(alice, "DELETE", `/shares/${s.id}`)).status).toBe(200);
    expect((await anon(s.url)).status).toBe(410);
  });

  it("counts a download only when the body is sent: not HEAD, not 304", async () => {
    const s = (await share({ expiresInSeconds: 600 })).body.share;
    const downloads = async () =>
      (await call(alice, "GET", "/shares")).body.shares.find((x: { id: string }) => x.id === s.id).downloads;
    const head = await anon(s.url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String("shared bytes".length));
    const etag = head.headers.get("etag")!;
    expect((await anon(s.url, { headers: { "if-none-match": etag } })).status).toBe(304);
    expect((await anon(s.url, { headers: { range: "bytes=99-" } })).status).toBe(416);
    expect(await downloads()).toBe(0);
    const whole = await anon(s.url);
    expect(await whole.text()).toBe("shared bytes");
    const part = await anon(s.url, { headers: { range: "bytes=0-5" } });
    expect(part.status).toBe(206);
    await part.text();
    expect(await downloads()).toBe(2);
  });

  it("an expired link is gone", async () => {
    const s = (await share({ expiresInSeconds: 600 })).body.share;
    const d = db();
    d.prepare("UPDATE shares SET expires_at = ? WHERE id = ?").run(
      new Date(Date.now() - 1000).toISOString(),
      s.id,
    );
    d.close();
    const r = await anon(s.url);
    expect(r.status).toBe(410);
    expect(((await r.json()) as { message: string }).message).toContain("expired");
    const live = (await call(alice, "GET", "/shares")).body.shares.map((x: { id: string }) => x.id);
    expect(live).not.toContain(s.id);
  });

  it("a password-protected link needs the password, and wrong guesses are throttled", async () => {
    const s = (await share({ expiresInSeconds: 600, password: "open sesame" })).body.share;
    expect(s.hasPassword).toBe(true);
    expect((await anon(s.url)).status).toBe(401);
    expect((await anon(s.url, { headers: { "x-share-password": "nope" } })).status).toBe(403);
    const right = await anon(s.url, { headers: { "x-share-password": "open sesame" } });
    expect(await right.text()).toBe("shared bytes");
    const posted = await anon(s.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password: "open sesame" }),
    });
    expect(await posted.text()).toBe("shared bytes");
    for (let i = 0; i < 10; i++) await anon(s.url, { headers: { "x-share-password": `guess ${i}` } });
    expect((await anon(s.url, { headers: { "x-share-password": "open sesame" } })).status).toBe(429);
    // The count is kept in the database: a restart of the service does not give a guesser ten more tries.
    // (an admin's restart, not a kill -9: the kill tests below must not add up to a crash loop)
    const pid = app.supervisor.status().find((x) => x.name === "files")!.pid!;
    await app.supervisor.restartUnit("files");
    await waitFor(
      () => {
        const f = app.supervisor.status().find((x) => x.name === "files");
        return f?.state === "running" && f.pid !== pid;
      },
      30_000,
      "files back",
    );
    const after = await waitFor(async () => {
      const r = await anon(s.url, { headers: { "x-share-password": "open sesame" } });
      return r.status === 502 || r.status === 503 ? null : r;
    }, 30_000);
    expect(after!.status).toBe(429);
  });

  it("guesses sent together cannot pass the limit while their hashes run (scrypt is async)", async () => {
    const s = (await share({ expiresInSeconds: 600, password: "open sesame" })).body.share;
    const codes = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        anon(s.url, { headers: { "x-share-password": `together ${i}` } }).then((r) => r.status),
      ),
    );
    expect(codes.filter((c) => c === 403)).toHaveLength(10);
    expect(codes.filter((c) => c === 429)).toHaveLength(6);
    expect((await anon(s.url, { headers: { "x-share-password": "open sesame" } })).status).toBe(429);
  });

  it("refuses bad share requests", async () => {
    expectError(await share({ expiresInSeconds: 10 }), 400);
    expectError(await share({ expiresInSeconds: 10 ** 9 }), 400);
    expectError(await share({ expiresInSeconds: 600, password: "x" }), 400);
    const folder = (await call(alice, "POST", "/spaces/me/folders", { body: { path: "share/dir" } })).body
      .folder;
    expectError(
      await call(alice, "POST", `/nodes/${folder.id}/shares`, { body: { expiresInSeconds: 600 } }),
      400,
    );
  });

  it("a link to a trashed file is gone", async () => {
    const id = (await put(alice, "share/gone.txt", "bye")).body.file.id;
    const s = (await call(alice, "POST", `/nodes/${id}/shares`, { body: { expiresInSeconds: 600 } })).body
      .share;
    await call(alice, "DELETE", `/nodes/${id}`);
    expect((await anon(s.url)).status).toBe(410);
  });
});

/** A PUT whose request target is sent byte for byte as given; resolves to the status. */
function rawPut(target: string, token: string, body: string) {
  return new Promise<number>((resolve, reject) => {
    const { port } = new URL(app.url);
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "PUT",
      path: target,
      headers: { authorization: `Bearer ${token}`, "content-length": Buffer.byteLength(body) },
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends `total` bytes of a PATCH but drops the connection after `sendBytes`. */
function patchThenDrop(uploadId: string, token: string, offset: number, total: number, sendBytes: number) {
  return new Promise<void>((resolve) => {
    const req = http.request(`${app.url}/api/files/uploads/${uploadId}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "upload-offset": String(offset), "content-length": total },
    });
    req.on("error", () => resolve());
    req.on("close", () => resolve());
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const pump = () => {
      while (sent < sendBytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return req.once("drain", pump);
      }
      setTimeout(() => req.destroy(), 200);
    };
    pump();
  });
}

describe("resumable uploads", () => {
  const SIZE = 8 * 1024 * 1024;
  const data = Buffer.alloc(SIZE, 7);

  it("continues after a dropped connection from the confirmed offset; sha256 matches", async () => {
    const start = await call(alice, "POST", "/uploads", {
      body: { space: "me", path: "resume/big.bin", size: SIZE, sha256: sha256(data) },
    });
    expect(start.status, start.text).toBe(201);
    const id = start.body.upload.id;
    await patchThenDrop(id, alice.token, 0, SIZE, 3 * 1024 * 1024);
    const offset = await waitFor(async () => {
      const r = await call(alice, "GET", `/uploads/${id}`);
      return r.body.upload.offset > 0 ? r.body.upload.offset : null;
    }, 10_000);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(SIZE);
    const wrong = await call(alice, "PATCH", `/uploads/${id}`, {
      body: "x",
      headers: { "upload-offset": "0" },
    });
    expectError(wrong, 409);
    expect(wrong.headers.get("upload-offset")).toBe(String(offset));
    const rest = await call(alice, "PATCH", `/uploads/${id}`, {
      body: data.subarray(offset),
      headers: { "upload-offset": String(offset) },
    });
    expect(rest.status, rest.text).toBe(201);
    expect(rest.body.file.sha256).toBe(sha256(data));
    const down = await fetch(`${app.url}/api/files/spaces/me/content/resume/big.bin`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(sha256(Buffer.from(await down.arrayBuffer()))).toBe(sha256(data));
  });

  it("a client whose answer to the last PATCH was lost learns the upload is done, and nothing is stored twice", async () => {
    const body = Buffer.from(`the last answer got lost ${Date.now()}`);
    const start = await call(alice, "POST", "/uploads", {
      body: { space: "me", path: "resume/lost-answer.txt", size: body.length },
    });
    const id = start.body.upload.id;
    const done = await call(alice, "PATCH", `/uploads/${id}`, { body, headers: { "upload-offset": "0" } });
    expect(done.status).toBe(201);
    // GET (what a tus client asks first after a dropped connection): complete, with the file.
    const asked = await call(alice, "GET", `/uploads/${id}`);
    expect(asked.status).toBe(200);
    expect(asked.headers.get("upload-offset")).toBe(String(body.length));
    expect(asked.body.upload).toMatchObject({ id, complete: true, offset: body.length, version: 1 });
    expect(asked.body.file).toMatchObject({ id: done.body.file.id, sha256: sha256(body) });
    // The retry of the completion (an empty PATCH at the full size): the same 201 again.
    const again = await call(alice, "PATCH", `/uploads/${id}`, {
      headers: { "upload-offset": String(body.length) },
    });
    expect(again.status).toBe(201);
    expect(again.body.file.id).toBe(done.body.file.id);
    // Resending the last bytes: 409 with the full offset and the outcome, and no second version.
    const resent = await call(alice, "PATCH", `/uploads/${id}`, { body, headers: { "upload-offset": "0" } });
    expectError(resent, 409, "complete");
    expect(resent.headers.get("upload-offset")).toBe(String(body.length));
    expect(resent.body.data).toMatchObject({ offset: body.length, upload: { complete: true } });
    expectError(await call(alice, "DELETE", `/uploads/${id}`), 409);
    expect((await call(alice, "GET", `/nodes/${done.body.file.id}/versions`)).body.versions).toHaveLength(1);
    // Nobody else learns anything about it.
    expectError(await call(bob, "GET", `/uploads/${id}`), 404);
    // The outcome is kept for uploadExpiryHours; the sweep (here: at the next start) forgets older ones.
    const d = db();
    d.prepare("UPDATE finished_uploads SET finished_at = '2000-01-01T00:00:00.000Z' WHERE id = ?").run(id);
    d.close();
    const pid = app.supervisor.status().find((x) => x.name === "files")!.pid!;
    await app.supervisor.restartUnit("files");
    await waitFor(
      async () => {
        const f = app.supervisor.status().find((x) => x.name === "files");
        return (
          f?.state === "running" &&
          f.pid !== pid &&
          (await call(alice, "GET", `/uploads/${id}`)).status === 404
        );
      },
      30_000,
      "the old outcome to be forgotten",
    );
    expectError(
      await call(bob, "PATCH", `/uploads/${id}`, { headers: { "upload-offset": String(body.length) } }),
      404,
    );
  });

  it("content no version references (a crash between storing and recording) is removed at the next start", async () => {
    const orphan = Buffer.from(`orphan ${Date.now()}`);
    const sha = sha256(orphan);
    const dir = join(filesDir(), "blobs", sha.slice(0, 2), sha.slice(2, 4));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, sha), orphan, { mode: 0o600 });
    const kept = (await put(alice, "gc/kept.txt", "still referenced")).body.file;
    const pid = app.supervisor.status().find((s) => s.name === "files")!.pid!;
    process.kill(pid, "SIGKILL");
    await waitFor(() => !existsSync(join(dir, sha)), 30_000, "the orphan to be collected");
    await waitFor(async () => (await get(alice, "gc/kept.txt")).status === 200, 30_000);
    expect((await get(alice, "gc/kept.txt")).text).toBe("still referenced");
    expect(kept.sha256).toBe(sha256("still referenced"));
  });

  it("survives a kill -9 of the files service mid-upload", async () => {
    const start = await call(alice, "POST", "/uploads", {
      body: { space: "me", path: "resume/killed.bin", size: SIZE },
    });
    const id = start.body.upload.id;
    const first = await call(alice, "PATCH", `/uploads/${id}`, {
      body: data.subarray(0, 1024 * 1024),
      headers: { "upload-offset": "0" },
    });
    expect(first.body.upload.offset).toBe(1024 * 1024);
    const pid = app.supervisor.status().find((s) => s.name === "files")!.pid!;
    process.kill(pid, "SIGKILL");
    await waitFor(() => {
      const s = app.supervisor.status().find((x) => x.name === "files");
      return s?.state === "running" && s.pid !== pid;
    }, 30_000);
    const after = await call(alice, "GET", `/uploads/${id}`);
    expect(after.body.upload.offset).toBe(1024 * 1024);
    const rest = await call(alice, "PATCH", `/uploads/${id}`, {
      body: data.subarray(1024 * 1024),
      headers: { "upload-offset": String(1024 * 1024) },
    });
    expect(rest.status, rest.text).toBe(201);
    expect(rest.body.file.sha256).toBe(sha256(data));
  });

  it("commits at the next start an upload whose commit a kill -9 cut short", async () => {
    const big = Buffer.alloc(96 * 1024 * 1024, 5);
    big.write(`committed after a crash ${Date.now()}`);
    const start = await call(alice, "POST", "/uploads", {
      body: { space: "me", path: "resume/crashed-commit.bin", size: big.length, sha256: sha256(big) },
    });
    const id = start.body.upload.id;
    const first = await call(alice, "PATCH", `/uploads/${id}`, {
      body: big.subarray(0, big.length - 1),
      headers: { "upload-offset": "0" },
    });
    expect(first.status, first.text).toBe(200);
    // The last byte sets the commit going; the kill lands while its content is in the blob store's temp folder.
    const storeTmp = join(filesDir(), "blobs", ".tmp");
    const pid = app.supervisor.status().find((s) => s.name === "files")!.pid!;
    const last = call(alice, "PATCH", `/uploads/${id}`, {
      body: big.subarray(big.length - 1),
      headers: { "upload-offset": String(big.length - 1) },
    }).catch(() => null);
    for (const deadline = Date.now() + 10_000; readdirSync(storeTmp).length === 0; ) {
      if (Date.now() > deadline) throw new Error("the commit did not start");
      await new Promise((r) => setImmediate(r)); // as tight as it gets: the window is the store's hashing
    }
    process.kill(pid, "SIGKILL");
    const cut = await last;
    expect(cut?.status).not.toBe(201); // the crash came before the answer
    await waitFor(() => {
      const s = app.supervisor.status().find((x) => x.name === "files");
      return s?.state === "running" && s.pid !== pid;
    }, 30_000);
    // Nobody asks again: the service commits what it had acknowledged.
    const down = await waitFor(
      async () => {
        const r = await fetch(`${app.url}/api/files/spaces/me/content/resume/crashed-commit.bin`, {
          headers: { authorization: `Bearer ${alice.token}` },
        });
        return r.status === 200 ? Buffer.from(await r.arrayBuffer()) : null;
      },
      20_000,
      "the upload to be committed",
    );
    expect(sha256(down!)).toBe(sha256(big));
    // Its client, whose last PATCH got no answer, asks and learns it is done, with the file.
    const asked = await call(alice, "GET", `/uploads/${id}`);
    expect(asked.status).toBe(200);
    expect(asked.body.upload).toMatchObject({ complete: true, offset: big.length });
    expect(asked.body.file.sha256).toBe(sha256(big));
    expect(stagingLeft()).toEqual([]);
    expect((await call(alice, "GET", "/spaces")).body.spaces[0].reservedBytes).toBe(0);
  });

  it("refuses more bytes than declared, a wrong sha256, and others' uploads", async () => {
    const u = (
      await call(alice, "POST", "/uploads", { body: { space: "me", path: "resume/s.bin", size: 4 } })
    ).body.upload;
    expectError(await call(bob, "GET", `/uploads/${u.id}`), 404);
    expectError(
      await call(bob, "PATCH", `/uploads/${u.id}`, { body: "ab", headers: { "upload-offset": "0" } }),
      404,
    );
    expectError(
      await call(alice, "PATCH", `/uploads/${u.id}`, { body: "abcdef", headers: { "upload-offset": "0" } }),
      413,
    );
    expectError(await call(alice, "PATCH", `/uploads/${u.id}`, { body: "ab" }), 400);
    const bad = (
      await call(alice, "POST", "/uploads", {
        body: { space: "me", path: "resume/bad.bin", size: 3, sha256: sha256("abc") },
      })
    ).body.upload;
    expectError(
      await call(alice, "PATCH", `/uploads/${bad.id}`, { body: "abd", headers: { "upload-offset": "0" } }),
      422,
    );
    expectError(await get(alice, "resume/bad.bin"), 404);
    expect((await call(alice, "DELETE", `/uploads/${u.id}`)).status).toBe(200);
    expectError(await call(alice, "GET", `/uploads/${u.id}`), 404);
  });

  it("a path a file or folder stands in the way of is refused when the upload starts, not after its last byte", async () => {
    await put(bob, "blocked/file.txt", "x");
    const under = await call(bob, "POST", "/uploads", {
      body: { space: "me", path: "blocked/file.txt/inner.bin", size: 10 },
    });
    expectError(under, 409, "in the way");
    expectError(
      await call(bob, "POST", "/uploads", { body: { space: "me", path: "blocked", size: 10 } }),
      409,
      "folder",
    );
    expect((await call(bob, "GET", "/spaces")).body.spaces[0].reservedBytes).toBe(0);
  });

  it("a sha256 mismatch drops the upload, its staging file and its reservation", async () => {
    const bad = (
      await call(bob, "POST", "/uploads", {
        body: { space: "me", path: "resume/mismatch.bin", size: 3, sha256: sha256("abc") },
      })
    ).body.upload;
    expectError(
      await call(bob, "PATCH", `/uploads/${bad.id}`, { body: "abd", headers: { "upload-offset": "0" } }),
      422,
      "dropped",
    );
    expectError(await call(bob, "GET", `/uploads/${bad.id}`), 404);
    expect((await call(bob, "GET", "/spaces")).body.spaces[0].reservedBytes).toBe(0);
    expect(stagingLeft()).not.toContain(bad.id);
  });
});

describe("events", () => {
  it("uploads, new versions and deletes are recorded in the outbox with their types", async () => {
    const d = db();
    const types = () =>
      (d.prepare("SELECT subject FROM _outbox").all() as { subject: string }[]).map((r) => r.subject);
    const f = (await put(alice, "ev/e.txt", "1")).body.file;
    await put(alice, "ev/e.txt", "2");
    await call(alice, "DELETE", `/nodes/${f.id}`);
    const seen = types();
    d.close();
    expect(seen).toContain("nexus.files.uploaded");
    expect(seen).toContain("nexus.files.versioned");
    expect(seen).toContain("nexus.files.deleted");
  });

  it("the API is in the gateway's OpenAPI document", async () => {
    const doc = (await (
      await fetch(`${app.url}/api/openapi.json`, { headers: { authorization: `Bearer ${admin.token}` } })
    ).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/files/spaces/{space}/content", "/api/files/uploads/{id}"]),
    );
  });
});

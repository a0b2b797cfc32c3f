/**
 * tus 1.0.0 on the files service, through the real gateway with identity for real users: the real
 * tus-js-client (Node HTTP stack) uploading 50 MiB with two interruptions and per-chunk checksums, and plain
 * requests for each part of the protocol: discovery, versions, HEAD, checksums, expiry, termination,
 * hostile metadata, quota and the outcome of a finished upload.
 */
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import * as tus from "tus-js-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { enc, filesCall, getStream, type Res, sha256 } from "../helpers/files.js";
import { addPerson, type Person, setupAdmin } from "../helpers/people.js";

const MiB = 1024 * 1024;
const V = { "tus-resumable": "1.0.0" };

let app: TestAppliance;
let admin: Person;
let alice: Person;
let bob: Person;

beforeAll(async () => {
  app = await startTestAppliance({
    services: ["identity", "files"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" },
  });
  admin = await setupAdmin(app);
  alice = await addPerson(app, admin, "alice", ["field-agent"]);
  bob = await addPerson(app, admin, "bob", ["field-agent"]);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const metadata = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(",");
const digest = (data: Buffer) => createHash("sha256").update(data).digest("base64");

/** A tus request as `p` (Tus-Resumable: 1.0.0 unless `headers` says otherwise). */
const tusCall = (p: Person | null, method: string, path: string, headers = {}, body?: Buffer) =>
  filesCall(app, p?.token ?? null, method, `/tus${path}`, { headers: { ...V, ...headers }, body });

/** Creates an upload and returns its path under /tus. */
async function create(p: Person, size: number, path: string): Promise<string> {
  const r = await tusCall(p, "POST", "", {
    "upload-length": String(size),
    "upload-metadata": metadata({ path }),
  });
  expect(r.status, r.text).toBe(201);
  return r.headers.get("location")!.replace("/api/files/tus", "");
}

const patch = (p: Person, at: string, offset: number, body: Buffer, headers = {}) =>
  tusCall(
    p,
    "PATCH",
    at,
    {
      "upload-offset": String(offset),
      "content-type": "application/offset+octet-stream",
      ...headers,
    },
    body,
  );

function expectTusError(r: Res, status: number) {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expect(r.headers.get("tus-resumable")).toBe("1.0.0");
  if (r.body !== null) expect(Object.keys(r.body).sort()).toEqual(["data", "message", "status"]);
}

function openUploads(): number {
  const db = new Database(join(app.dataDir, "services", "files", "files.db"), { timeout: 10_000 });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM uploads").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * One run of tus-js-client over `source`: resolves when it succeeds, or, with `stopAt`, once it aborted after
 * passing that fraction. Every PATCH carries the sha256 of its chunk; `offsets` are the PATCHes' offsets.
 */
function runTus(
  p: Person,
  source: Buffer,
  opts: {
    path: string;
    chunkSize: number;
    uploadUrl?: string;
    stopAt?: number;
    creationWithUpload?: boolean;
    onChunk?: (accepted: number) => void;
    /** Never start a new upload once this one exists (see the console's upload.ts for why). */
    keepUpload?: boolean;
  },
) {
  return new Promise<{ done: boolean; url: string; offsets: number[] }>((resolve, reject) => {
    const offsets: number[] = [];
    let stopped = false;
    const upload = new tus.Upload(source, {
      endpoint: `${app.url}/api/files/tus`,
      uploadUrl: opts.uploadUrl ?? null,
      uploadSize: source.length,
      chunkSize: opts.chunkSize,
      uploadDataDuringCreation: opts.creationWithUpload ?? false,
      metadata: {
        space: "me",
        path: opts.path,
        filetype: "application/octet-stream",
        sha256: sha256(source),
      },
      headers: { authorization: `Bearer ${p.token}` },
      // 409 (bytes of the aborted request still arriving) and 5xx (a restart) are retried after a fresh HEAD.
      retryDelays: [200, 500, 1000, 2000, 4000, 8000, 8000, 8000],
      onBeforeRequest: (req) => {
        const offset = Number(
          req.getHeader("Upload-Offset") ?? (req.getMethod() === "POST" ? 0 : Number.NaN),
        );
        if (Number.isNaN(offset) || req.getMethod() === "HEAD") return;
        if (req.getMethod() === "PATCH") offsets.push(offset);
        const chunk = source.subarray(offset, offset + opts.chunkSize);
        req.setHeader("Upload-Checksum", `sha256 ${digest(chunk)}`);
      },
      onProgress: (sent) => {
        if (opts.stopAt === undefined || stopped || sent < opts.stopAt * source.length) return;
        stopped = true;
        void upload.abort().then(() => resolve({ done: false, url: upload.url!, offsets }), reject);
      },
      onChunkComplete: (_size, accepted) => opts.onChunk?.(accepted),
      onUploadUrlAvailable: () => {
        if (opts.keepUpload) upload.options.endpoint = null;
      },
      onSuccess: () => resolve({ done: true, url: upload.url!, offsets }),
      onError: reject,
    });
    upload.start();
  });
}

describe("tus-js-client", () => {
  it("uploads 50 MiB interrupted twice, resuming each time, checksummed per chunk", async () => {
    const source = randomBytes(50 * MiB);
    const o = { path: "tus/big.bin", chunkSize: 8 * MiB };
    const first = await runTus(alice, source, { ...o, stopAt: 0.3 });
    expect(first.done).toBe(false);
    expect(first.url).toMatch(/\/api\/files\/tus\/[A-Za-z0-9_-]+$/);
    const second = await runTus(alice, source, { ...o, uploadUrl: first.url, stopAt: 0.6 });
    expect(second.done).toBe(false);
    const third = await runTus(alice, source, { ...o, uploadUrl: first.url });
    expect(third.done).toBe(true);
    // Each run went on from what the box had confirmed, instead of starting again.
    expect(second.offsets[0]).toBeGreaterThan(0);
    expect(third.offsets[0]).toBeGreaterThan(second.offsets[0]!);

    const down = await getStream(`${app.url}/api/files/spaces/me/content/tus/big.bin`, alice.token);
    expect(down).toEqual({ status: 200, size: source.length, sha: sha256(source) });
    const head = await tusCall(alice, "HEAD", first.url.replace(/.*\/tus/, ""));
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe(String(source.length)); // the outcome is kept
    expect(head.headers.get("upload-length")).toBe(String(source.length));
  }, 240_000);

  it("goes on after a kill -9 of the files service, losing no acknowledged byte", async () => {
    const source = randomBytes(24 * MiB);
    const files = () => app.supervisor.status().find((x) => x.name === "files");
    let killed: { pid: number; accepted: number } | undefined;
    const run = runTus(alice, source, {
      path: "tus/killed.bin",
      chunkSize: 4 * MiB,
      // Without this, tus-js-client answers the gateway's 503 to its HEAD (the service restarting) by
      // creating a new upload and sending everything again.
      keepUpload: true,
      onChunk: (accepted) => {
        if (killed || accepted < 8 * MiB) return;
        killed = { pid: files()!.pid!, accepted };
        process.kill(killed.pid, "SIGKILL"); // tus-js-client retries (HEAD, then PATCH) until it is back
      },
    });
    const r = await run;
    expect(r.done).toBe(true);
    expect(files()!.pid).not.toBe(killed!.pid);
    const after = r.offsets.slice(r.offsets.indexOf(killed!.accepted));
    expect(after.length).toBeGreaterThan(0);
    expect(Math.min(...after)).toBe(killed!.accepted); // it went on from there, not from the start
    const down = await getStream(`${app.url}/api/files/spaces/me/content/tus/killed.bin`, alice.token);
    expect(down).toEqual({ status: 200, size: source.length, sha: sha256(source) });
  }, 120_000);

  it("stores the first bytes with the creation (creation-with-upload), and an empty file at once", async () => {
    const small = randomBytes(300_000);
    const r = await runTus(alice, small, {
      path: "tus/small.bin",
      chunkSize: 200_000,
      creationWithUpload: true,
    });
    expect(r.done).toBe(true);
    const down = await getStream(`${app.url}/api/files/spaces/me/content/tus/small.bin`, alice.token);
    expect(down).toEqual({ status: 200, size: small.length, sha: sha256(small) });

    const empty = await runTus(alice, Buffer.alloc(0), { path: "tus/empty.txt", chunkSize: MiB });
    expect(empty.done).toBe(true);
    const got = await filesCall(app, alice.token, "GET", `/spaces/me/content/${enc("tus/empty.txt")}`);
    expect([got.status, got.text]).toEqual([200, ""]);
  }, 60_000);
});

describe("the protocol, request by request", () => {
  it("answers OPTIONS with what it supports, without credentials", async () => {
    const r = await fetch(`${app.url}/api/files/tus`, { method: "OPTIONS" });
    expect(r.status).toBe(204);
    expect(r.headers.get("tus-version")).toBe("1.0.0");
    expect(r.headers.get("tus-resumable")).toBe("1.0.0");
    expect(r.headers.get("tus-extension")?.split(",")).toEqual([
      "creation",
      "creation-with-upload",
      "termination",
      "checksum",
      "expiration",
    ]);
    expect(Number(r.headers.get("tus-max-size"))).toBe(64 * 1024 ** 3);
    expect(r.headers.get("tus-checksum-algorithm")).toBe("sha256");
  });

  it("is in the gateway's OpenAPI document", async () => {
    const r = await fetch(`${app.url}/api/openapi.json`, {
      headers: { authorization: `Bearer ${admin.token}` },
    });
    const { paths } = (await r.json()) as { paths: Record<string, object> };
    expect(Object.keys(paths["/api/files/tus"]!).sort()).toEqual(["options", "post"]);
    expect(Object.keys(paths["/api/files/tus/{id}"]!).sort()).toEqual(["delete", "get", "head", "patch"]);
  });

  it("refuses another protocol version with 412 and Tus-Version", async () => {
    for (const headers of [{ "tus-resumable": "0.2.2" }, { "tus-resumable": "" }]) {
      const r = await tusCall(alice, "POST", "", {
        ...headers,
        "upload-length": "5",
        "upload-metadata": metadata({ path: "v.txt" }),
      });
      expectTusError(r, 412);
      expect(r.headers.get("tus-version")).toBe("1.0.0");
    }
    expect(openUploads()).toBe(0);
  });

  it("HEAD tells offset, length, metadata and expiry, never cached; PATCH answers 204", async () => {
    const at = await create(alice, 10, "head/ten.txt");
    const h0 = await tusCall(alice, "HEAD", at);
    expect(h0.status).toBe(200);
    expect(h0.headers.get("upload-offset")).toBe("0");
    expect(h0.headers.get("upload-length")).toBe("10");
    expect(h0.headers.get("cache-control")).toBe("no-store");
    expect(h0.headers.get("tus-resumable")).toBe("1.0.0");
    expect(h0.headers.get("upload-metadata")).toContain(`path ${b64("head/ten.txt")}`);
    const p = await patch(alice, at, 0, Buffer.from("hello"));
    expect(p.status, p.text).toBe(204);
    expect(p.headers.get("upload-offset")).toBe("5");
    expect(p.headers.get("tus-resumable")).toBe("1.0.0");
    expect((await tusCall(alice, "HEAD", at)).headers.get("upload-offset")).toBe("5");
    const wrong = await patch(alice, at, 3, Buffer.from("xx"));
    expectTusError(wrong, 409);
    expect(wrong.headers.get("upload-offset")).toBe("5");
    const noType = await patch(alice, at, 5, Buffer.from("world"), { "content-type": "text/plain" });
    expectTusError(noType, 415);
    expect((await patch(alice, at, 5, Buffer.from("world"))).status).toBe(204);
    // The last answer lost: HEAD still tells the whole length, and the empty PATCH at the end is 204 again.
    expect((await tusCall(alice, "HEAD", at)).headers.get("upload-offset")).toBe("10");
    expect((await patch(alice, at, 10, Buffer.alloc(0))).status).toBe(204);
    expect((await filesCall(app, alice.token, "GET", "/spaces/me/content/head/ten.txt")).text).toBe(
      "helloworld",
    );
    // Someone else's upload is not there for them.
    expectTusError(await tusCall(bob, "HEAD", await create(alice, 3, "head/mine.txt")), 404);
  });

  it("tells Upload-Expires (an HTTP date in the future) at creation, on each PATCH and on HEAD", async () => {
    const r = await tusCall(alice, "POST", "", {
      "upload-length": "4",
      "upload-metadata": metadata({ path: "exp.txt" }),
    });
    const at = r.headers.get("location")!.replace("/api/files/tus", "");
    const p = await patch(alice, at, 0, Buffer.from("ab"));
    const h = await tusCall(alice, "HEAD", at);
    for (const res of [r, p, h]) {
      const expires = res.headers.get("upload-expires");
      expect(expires).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
      expect(Date.parse(expires!)).toBeGreaterThan(Date.now() + 23 * 3600_000);
    }
    await tusCall(alice, "DELETE", at);
  });

  it("verifies Upload-Checksum per chunk: 460 and nothing stored on a mismatch, 400 for another algorithm", async () => {
    const at = await create(alice, 8, "sum/eight.txt");
    const bytes = Buffer.from("abcd");
    const bad = await patch(alice, at, 0, bytes, {
      "upload-checksum": `sha256 ${digest(Buffer.from("abce"))}`,
    });
    expectTusError(bad, 460);
    expect(bad.body.data.reason).toBe("checksum-mismatch");
    expect((await tusCall(alice, "HEAD", at)).headers.get("upload-offset")).toBe("0");
    const md5 = await patch(alice, at, 0, bytes, { "upload-checksum": `md5 ${b64("x".repeat(16))}` });
    expectTusError(md5, 400);
    const good = await patch(alice, at, 0, bytes, { "upload-checksum": `sha256 ${digest(bytes)}` });
    expect(good.status, good.text).toBe(204);
    expect(good.headers.get("upload-offset")).toBe("4");
    const last = Buffer.from("efgh");
    const badLast = await patch(alice, at, 4, last, { "upload-checksum": `SHA256 ${digest(bytes)}` });
    expectTusError(badLast, 460);
    const listed = await filesCall(app, alice.token, "GET", "/spaces/me/list/sum");
    expect(listed.status).toBe(404); // no file yet, so not even its folder
    expect((await patch(alice, at, 4, last, { "upload-checksum": `sha256 ${digest(last)}` })).status).toBe(
      204,
    );
    expect((await filesCall(app, alice.token, "GET", "/spaces/me/content/sum/eight.txt")).text).toBe(
      "abcdefgh",
    );
  });

  it("terminates an upload: DELETE 204, then HEAD 404 and its reservation gone", async () => {
    const at = await create(alice, 1000, "gone.bin");
    expect((await patch(alice, at, 0, randomBytes(100))).status).toBe(204);
    const before = openUploads();
    const del = await tusCall(alice, "DELETE", at);
    expect(del.status).toBe(204);
    expect(del.headers.get("tus-resumable")).toBe("1.0.0");
    expectTusError(await tusCall(alice, "HEAD", at), 404);
    expectTusError(await patch(alice, at, 100, randomBytes(10)), 404);
    expect(openUploads()).toBe(before - 1);
  });

  it("refuses hostile or malformed Upload-Metadata with 400, creating nothing", async () => {
    const before = openUploads();
    const cases: Record<string, string> = {
      traversal: metadata({ path: "../../etc/passwd" }),
      "inner dot-dot": metadata({ path: "a/../../b" }),
      "leading slash": metadata({ path: "/abs.txt" }),
      "slash in filename": metadata({ filename: "../x.txt" }),
      "dot-dot folder": metadata({ folder: "..", filename: "x.txt" }),
      "control character": metadata({ path: "a\u0000b.txt" }),
      "bidi override": metadata({ path: "evil\u202etxt.exe" }),
      "bad base64": "path !!notbase64!!",
      "base64 of no UTF-8": `path ${Buffer.from([0xff, 0xfe, 0xfd]).toString("base64")}`,
      "repeated key": `path ${b64("a.txt")},path ${b64("b.txt")}`,
      "three parts": `path ${b64("a.txt")} extra`,
      oversized: metadata({ path: "a.txt", note: "x".repeat(9000) }),
      "too many keys": Array.from({ length: 40 }, (_, i) => `k${i} ${b64("v")}`).join(","),
      "no path": metadata({ filetype: "text/plain" }),
      "path and filename": metadata({ path: "a.txt", filename: "b.txt" }),
      "malformed sha256": metadata({ path: "a.txt", sha256: "xyz" }),
      "another person's space": metadata({ space: `user:${bob.id}`, path: "a.txt" }),
    };
    for (const [what, header] of Object.entries(cases)) {
      const r = await tusCall(alice, "POST", "", { "upload-length": "10", "upload-metadata": header });
      expect([what, r.status]).toEqual([what, what === "another person's space" ? 403 : 400]);
      expectTusError(r, r.status);
      expect(r.headers.get("location")).toBeNull();
    }
    for (const length of ["", "-1", "1.5", "12abc"]) {
      expectTusError(
        await tusCall(alice, "POST", "", {
          "upload-length": length,
          "upload-metadata": metadata({ path: "n.txt" }),
        }),
        400,
      );
    }
    expectTusError(
      await tusCall(alice, "POST", "", {
        "upload-defer-length": "1",
        "upload-metadata": metadata({ path: "d.txt" }),
      }),
      400,
    );
    expect(openUploads()).toBe(before);
  });

  it("refuses an upload over the quota at creation (413, reason quota) and one over Tus-Max-Size", async () => {
    const set = await filesCall(app, admin.token, "PUT", `/quotas/user:${bob.id}`, { body: { bytes: 1000 } });
    expect(set.status, set.text).toBe(200);
    const before = openUploads();
    const over = await tusCall(bob, "POST", "", {
      "upload-length": "1001",
      "upload-metadata": metadata({ path: "big.bin" }),
    });
    expectTusError(over, 413);
    expect(over.body.data.reason).toBe("quota");
    const withBody = await tusCall(
      bob,
      "POST",
      "",
      {
        "upload-length": "2000",
        "upload-metadata": metadata({ path: "big2.bin" }),
        "content-type": "application/offset+octet-stream",
      },
      randomBytes(2000),
    );
    expectTusError(withBody, 413);
    const huge = await tusCall(bob, "POST", "", {
      "upload-length": String(64 * 1024 ** 3 + 1),
      "upload-metadata": metadata({ path: "huge.bin" }),
    });
    expectTusError(huge, 413);
    expect(openUploads()).toBe(before);
    const fits = await tusCall(bob, "POST", "", {
      "upload-length": "1000",
      "upload-metadata": metadata({ path: "fits.bin" }),
    });
    expect(fits.status, fits.text).toBe(201);
  });

  it("drops a creation whose first chunk fails its checksum: no Location, nothing reserved", async () => {
    const before = openUploads();
    const r = await tusCall(
      alice,
      "POST",
      "",
      {
        "upload-length": "6",
        "upload-metadata": metadata({ path: "cwu.txt" }),
        "content-type": "application/offset+octet-stream",
        "upload-checksum": `sha256 ${digest(Buffer.from("nope"))}`,
      },
      Buffer.from("abc"),
    );
    expectTusError(r, 460);
    expect(r.headers.get("location")).toBeNull();
    expect(openUploads()).toBe(before);
  });
});

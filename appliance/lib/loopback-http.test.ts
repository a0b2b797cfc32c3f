import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loopbackRequest } from "./loopback-http.js";

let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/silent") return; // never answers: the deadline must end it
    if (req.url === "/big") return res.end("x".repeat(2048));
    res.writeHead(req.url === "/ready" ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ method: req.method, token: req.headers["x-nexus-internal"] ?? null }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("loopbackRequest", () => {
  it("returns the status and the body, with the method and headers asked for", async () => {
    const ok = await loopbackRequest(port, "/ready");
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ method: "GET", token: null });
    const post = await loopbackRequest(port, "/other", {
      method: "POST",
      headers: { "x-nexus-internal": "t" },
    });
    expect(post.status).toBe(503);
    expect(JSON.parse(post.body)).toEqual({ method: "POST", token: "t" });
  });

  it("rejects past its deadline, on a body over the limit and on a refused connection", async () => {
    await expect(loopbackRequest(port, "/silent", { timeoutMs: 100 })).rejects.toThrow(/no answer in 100 ms/);
    await expect(loopbackRequest(port, "/big", { maxBytes: 1024 })).rejects.toThrow(/over 1024 bytes/);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const gone = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(loopbackRequest(gone, "/ready")).rejects.toThrow(/ECONNREFUSED/);
  });
});

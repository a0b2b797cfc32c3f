/** A loopback HTTP server around the gateway's static-file handlers (console, web app) for unit tests. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ConsoleFiles } from "../../appliance/gateway/console-files.js";

/** Serves `files`; any path they do not answer gets 404 "fallthrough" (what the gateway would do next). */
export async function serveFiles(files: ConsoleFiles): Promise<{ base: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    if (!files.serve(req, res, (req.url ?? "/").split("?")[0] ?? "/")) {
      res.writeHead(404);
      res.end("fallthrough");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

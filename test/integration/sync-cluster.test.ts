/**
 * The hub on an existing NATS server it did not start (the production setup with a cluster): it writes the
 * site users into the file the server's config includes and runs the reload command; boxes link to that
 * server's leafnode port (TLS with the operator's CA, which boxes pin), their records reach the hub, and
 * revoking a site cuts it off there too.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leafTls } from "../../appliance/hub/leaf-tls.js";
import { freePort } from "../../appliance/lib/ports.js";
import { removeDir, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { enrolledBox, type HubProcess, hubProcess, teardown } from "../helpers/hub.js";
import { stopChild } from "../helpers/processes.js";

let dir: string;
let cluster: ChildProcess;
let hub: HubProcess;
let box: TestAppliance;

beforeAll(async () => {
  dir = tempDir("nexus-cluster-");
  const [port, leafPort] = [await freePort(), await freePort()];
  mkdirSync(join(dir, "js"));
  // The operator's own PKI for the leafnode listener (made here the way the hub makes its own).
  mkdirSync(join(dir, "pki"));
  const pki = leafTls("auto", join(dir, "pki"), ["127.0.0.1"])!;
  // The operator's server: JetStream domain hub, a leafnode listener, and the users file the hub maintains.
  writeFileSync(
    join(dir, "auth.conf"),
    'authorization { users: [ { user: "hubsvc", password: "cluster-secret-1" } ] }\n',
  );
  writeFileSync(
    join(dir, "nats.conf"),
    [
      `listen: "127.0.0.1:${port}"`,
      'server_name: "cluster-1"',
      `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))}, domain: "hub" }`,
      'include "auth.conf"',
      `leafnodes { listen: "127.0.0.1:${leafPort}", tls: { cert_file: ${JSON.stringify(pki.certFile)}, key_file: ${JSON.stringify(pki.keyFile)} } }`,
      "",
    ].join("\n"),
  );
  cluster = spawn("nats-server", ["-c", join(dir, "nats.conf")], { stdio: "ignore" });
  // Ready once it accepts connections (a fixed sleep is too short on a loaded machine).
  await waitFor(() => accepts(port), 30_000, "the cluster's nats-server");
  hub = await hubProcess({
    env: {
      NEXUS_HUB_NATS_USER: "hubsvc",
      NEXUS_HUB_NATS_PASSWORD: "cluster-secret-1",
      NEXUS_HUB_LEAF_TLS_CA: join(dir, "pki", "leaf-ca.pem"),
    },
    args: [
      "--nats-url",
      `nats://127.0.0.1:${port}`,
      "--nats-auth-file",
      join(dir, "auth.conf"),
      "--nats-reload-command",
      `kill -HUP ${cluster.pid}`,
      "--public-leaf-url",
      `nats-leaf://127.0.0.1:${leafPort}`,
    ],
  });
  await hub.start();
  box = await enrolledBox(hub, "far", ["notes"]);
}, 120_000);

afterAll(async () => {
  await teardown([box], hub);
  // nats-server writes its JetStream files while it shuts down: remove its dir only once it has exited.
  await stopChild(cluster);
  if (dir) removeDir(dir);
});

/** Whether something accepts TCP connections on the loopback `port`. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

const put = (key: string) =>
  box.api(`/api/notes/notes/${key}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text: key }),
  });
const onHub = async (key: string) =>
  (await hub.api<{ records: { key: string }[] }>("GET", "/api/hub/records/notes")).body.records.some(
    (r) => r.key === key,
  );

describe("hub on an existing NATS server", () => {
  it("writes the site users for the server, and records flow through its leafnode port", async () => {
    const auth = readFileSync(join(dir, "auth.conf"), "utf8");
    expect(auth).toContain('"far"');
    expect(auth).toContain('"hubsvc"');
    expect(auth).not.toContain("cluster-secret-1"); // bcrypt hashes only
    expect((await put("via-cluster")).status).toBe(200);
    await waitFor(() => onHub("via-cluster"), 30_000, "the record on the hub");
  });

  it("revoking the site removes its user there and cuts the link", async () => {
    expect((await hub.api("DELETE", "/api/hub/sites/far")).status).toBe(200);
    expect(readFileSync(join(dir, "auth.conf"), "utf8")).not.toContain('"far"');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await put("after-revoke")).status).toBe(200);
    await new Promise((r) => setTimeout(r, 4000));
    expect(await onHub("after-revoke")).toBe(false);
  }, 30_000);
});

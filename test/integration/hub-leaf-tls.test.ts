/**
 * The leafnode link between box and hub is TLS by default, with real processes: the hub's listener requires
 * TLS, an enrolled box pins the hub's CA and links, and a box that trusts another CA, or was told to speak
 * plain NATS, never links (so its site password is never sent in the clear or to an impostor). The hub
 * renews its certificate while it runs, and nats-server serves the new one.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leafTls } from "../../appliance/hub/leaf-tls.js";
import { dataPaths } from "../../appliance/paths.js";
import type { HubLink } from "../../appliance/sync/hub-link.js";
import { syncStatus } from "../../appliance/sync-status.js";
import { removeDir, startTestAppliance, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { enrolledBox, enrolWith, type HubProcess, hubProcess, putNote, teardown } from "../helpers/hub.js";

let hub: HubProcess;
let good: TestAppliance;
const boxes: TestAppliance[] = [];

beforeAll(async () => {
  hub = await hubProcess();
  await hub.start();
  good = await enrolledBox(hub, "tls-good", ["notes"]);
  boxes.push(good);
}, 120_000);
afterAll(() => teardown(boxes, hub));

/** A box enrolled as `site` whose stored link is changed by `edit` before it starts. */
async function boxWithLink(site: string, edit: (l: HubLink) => HubLink): Promise<TestAppliance> {
  const pre = tempDir("nexus-enrol-");
  await enrolWith(hub, pre, site);
  const box = await startTestAppliance({
    services: ["notes"],
    beforeStart: (dataDir) => {
      mkdirSync(join(dataDir, "secrets"), { recursive: true, mode: 0o700 });
      const link = JSON.parse(readFileSync(join(pre, "secrets", "hub.json"), "utf8")) as HubLink;
      writeFileSync(join(dataDir, "secrets", "hub.json"), JSON.stringify(edit(link)), { mode: 0o600 });
      copyFileSync(join(pre, "config.json"), join(dataDir, "config.json"));
    },
  });
  removeDir(pre);
  boxes.push(box);
  return box;
}

async function hubKeys(): Promise<Set<string>> {
  const r = await hub.api<{ records: { key: string }[] }>("GET", "/api/hub/records/notes");
  return new Set(r.body.records.map((x) => x.key));
}

describe("leafnode TLS", () => {
  it("the hub's leafnode listener requires TLS", async () => {
    const info = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(hub.leafPort, "127.0.0.1");
      let buf = "";
      sock.on("data", (d) => {
        buf += d.toString();
        if (buf.includes("\r\n")) {
          sock.destroy();
          resolve(buf.split("\r\n")[0]!);
        }
      });
      sock.on("error", reject);
    });
    expect(info.startsWith("INFO ")).toBe(true);
    expect(JSON.parse(info.slice(5))).toMatchObject({ tls_required: true });
  });

  it("an enrolled box pins the hub's CA, links, and its records arrive", async () => {
    const link = JSON.parse(readFileSync(dataPaths(good.dataDir).hubLink, "utf8")) as HubLink;
    expect(link.leafnodeTls).toBe(true);
    expect(link.leafnodeCa).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(readFileSync(dataPaths(good.dataDir).natsConf, "utf8")).toContain("ca_file");
    await putNote(good, "over-tls", "sealed");
    await waitFor(async () => (await hubKeys()).has("over-tls"), 30_000, "the note on the hub");
    expect(await syncStatus(good.dataDir)).toMatchObject({ link: "up", linkTls: "pinned-ca" });
  });

  it("a box that trusts another CA, or speaks plain NATS, never links", async () => {
    const otherDir = tempDir("nexus-other-ca-");
    const impostorCa = leafTls("auto", otherDir, ["127.0.0.1"])!.caPem!;
    removeDir(otherDir);
    const wrongCa = await boxWithLink("tls-wrong-ca", (l) => ({ ...l, leafnodeCa: impostorCa }));
    const plain = await boxWithLink("tls-plain", (l) => ({
      ...l,
      leafnodeTls: false,
      leafnodeCa: undefined,
    }));
    await putNote(wrongCa, "wrong-ca", "must stay home");
    await putNote(plain, "plain", "must stay home");
    await putNote(good, "still-flows", "yes");
    await waitFor(async () => (await hubKeys()).has("still-flows"), 30_000, "the good box's note");
    await new Promise((r) => setTimeout(r, 4000)); // leafnode reconnects every 2 s
    const keys = await hubKeys();
    expect(keys.has("wrong-ca")).toBe(false);
    expect(keys.has("plain")).toBe(false);
    expect((await syncStatus(wrongCa.dataDir)).link).toBe("down");
    expect(await syncStatus(plain.dataDir)).toMatchObject({ link: "down", linkTls: "none" });
    // Refused in the TLS handshake, before the site's credentials are sent (a plain box is asked for TLS by
    // the hub's INFO, tries it, and cannot verify the hub's certificate either).
    for (const box of [wrongCa, plain])
      expect(readFileSync(dataPaths(box.dataDir).logFile("nats"), "utf8")).toContain(
        "certificate signed by unknown authority",
      );
  }, 90_000);
});

/** The serial of the certificate a leafnode listener serves (after its INFO line, as a box's TLS upgrade). */
function servedSerial(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    sock.once("error", reject);
    sock.once("data", () => {
      const t = tls.connect({ socket: sock, ca: caPem, servername: "localhost" }, () => {
        resolve(t.getPeerCertificate().serialNumber);
        t.destroy();
      });
      t.once("error", reject);
    });
  });
}

describe("leafnode certificate renewal", () => {
  let renewing: HubProcess;
  beforeAll(async () => {
    renewing = await hubProcess({ env: { NEXUS_HUB_LEAF_TLS_CHECK_MS: "300" } });
    await renewing.start();
  }, 60_000);
  afterAll(() => teardown([], renewing));

  it("makes a new certificate while running when the old one nears its end, and nats-server serves it", async () => {
    const secrets = join(renewing.dir, "secrets");
    const ca = readFileSync(join(secrets, "leaf-ca.pem"), "utf8");
    const serving = () => new X509Certificate(readFileSync(join(secrets, "leaf-server.pem")));
    expect(await servedSerial(renewing.leafPort, ca)).toBe(serving().serialNumber);
    // A certificate from the same CA that ends tomorrow, put in place behind the hub's back.
    const tmp = tempDir("nexus-short-");
    try {
      const ext = join(tmp, "ext");
      writeFileSync(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
      const ossl = (args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
      ossl([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        join(tmp, "k"),
        "-out",
        join(tmp, "csr"),
        "-subj",
        "/CN=short",
      ]);
      ossl([
        "x509",
        "-req",
        "-in",
        join(tmp, "csr"),
        "-CA",
        join(secrets, "leaf-ca.pem"),
        "-CAkey",
        join(secrets, "leaf-ca.key"),
        "-set_serial",
        "0x5107",
        "-days",
        "1",
        "-extfile",
        ext,
        "-out",
        join(tmp, "c"),
      ]);
      copyFileSync(join(tmp, "k"), join(secrets, "leaf-server.key"));
      copyFileSync(join(tmp, "c"), join(secrets, "leaf-server.pem"));
    } finally {
      removeDir(tmp);
    }
    const renewed = await waitFor(
      () => {
        const c = serving();
        return c.serialNumber !== "5107" && Date.parse(c.validTo) - Date.now() > 700 * 86_400_000 ? c : null;
      },
      20_000,
      "a renewed certificate",
    );
    await waitFor(
      async () => (await servedSerial(renewing.leafPort, ca)) === renewed!.serialNumber,
      10_000,
      "nats-server serving the renewed certificate",
    );
  }, 60_000);
});

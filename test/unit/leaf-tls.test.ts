/**
 * The hub's leafnode certificates, made with the real openssl: a CA and a server certificate for the names
 * boxes dial, kept while they fit, made again (same CA) when the names change or the pair is broken.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hubLeafTls } from "../../appliance/cli/hub.js";
import {
  certNames,
  enrolmentTls,
  externalLeafTls,
  leafTls,
  readCaBundle,
} from "../../appliance/hub/leaf-tls.js";
import { hubNatsConfig } from "../../appliance/hub/nats.js";
import { natsConfig } from "../../appliance/supervisor/nats-server.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const root = tempDir("nexus-leaf-tls-");
afterAll(() => removeDir(root));
let n = 0;
const fresh = () => {
  const d = join(root, String(n++));
  mkdirSync(d);
  return d;
};

describe("leafTls", () => {
  it("makes a CA and a server certificate for the names, keys 0600, chained to the CA", () => {
    const dir = fresh();
    const tls = leafTls("auto", dir, ["hub.example.org", "10.0.0.5", "127.0.0.1"])!;
    const cert = new X509Certificate(readFileSync(tls.certFile));
    const ca = new X509Certificate(tls.caPem!);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(certNames(cert.toString())).toEqual(["10.0.0.5", "127.0.0.1", "hub.example.org"]);
    expect(cert.checkHost("hub.example.org")).toBe("hub.example.org");
    expect(cert.checkIP("10.0.0.5")).toBe("10.0.0.5");
    expect(cert.checkHost("evil.example.org")).toBeUndefined();
    for (const key of [tls.keyFile, join(dir, "leaf-ca.key")]) expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(Date.parse(cert.validTo) - Date.now()).toBeGreaterThan(700 * 86_400_000);
  });

  it("keeps a certificate that fits, and makes a new one from the same CA when the names change", () => {
    const dir = fresh();
    const first = leafTls("auto", dir, ["a.example.org"])!;
    const pem = readFileSync(first.certFile, "utf8");
    leafTls("auto", dir, ["a.example.org"]);
    expect(readFileSync(first.certFile, "utf8")).toBe(pem);
    const second = leafTls("auto", dir, ["b.example.org", "a.example.org"])!;
    expect(second.caPem).toBe(first.caPem); // enrolled boxes keep trusting it
    expect(readFileSync(second.certFile, "utf8")).not.toBe(pem);
    expect(certNames(readFileSync(second.certFile, "utf8"))).toEqual(["a.example.org", "b.example.org"]);
  });

  it("makes the pair again when the key does not match the certificate (a crash between the two)", () => {
    const dir = fresh();
    const tls = leafTls("auto", dir, ["x.example.org"])!;
    const other = leafTls("auto", fresh(), ["x.example.org"])!;
    writeFileSync(tls.keyFile, readFileSync(other.keyFile));
    const pem = readFileSync(tls.certFile, "utf8");
    leafTls("auto", dir, ["x.example.org"]);
    const cert = new X509Certificate(readFileSync(tls.certFile));
    expect(cert.toString()).not.toBe(pem);
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(tls.keyFile, "utf8")))).toBe(true);
  });

  it("keeps a certificate for IPv6 addresses and names written another way (no new key at every start)", () => {
    const dir = fresh();
    const first = leafTls("auto", dir, ["fd00::1", "[::1]", "hub.example.org."])!;
    const pem = readFileSync(first.certFile, "utf8");
    expect(certNames(pem)).toEqual(["0:0:0:0:0:0:0:1", "FD00:0:0:0:0:0:0:1", "hub.example.org"]);
    leafTls("auto", dir, ["fd00:0::1", "::1", "hub.example.org"]);
    expect(readFileSync(first.certFile, "utf8")).toBe(pem);
  });

  it("makes a damaged server certificate again, and stops on a damaged CA with what to do", () => {
    const dir = fresh();
    const tls = leafTls("auto", dir, ["y.example.org"])!;
    writeFileSync(tls.certFile, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
    leafTls("auto", dir, ["y.example.org"]);
    expect(new X509Certificate(readFileSync(tls.certFile)).checkHost("y.example.org")).toBe("y.example.org");
    // The CA is what every box pins: never silently replaced.
    const other = leafTls("auto", fresh(), ["y.example.org"])!;
    writeFileSync(join(dir, "leaf-ca.key"), readFileSync(other.keyFile));
    expect(() => leafTls("auto", dir, ["y.example.org"])).toThrow(/CA .* damaged or its key does not match/);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses names that are not host names or addresses (nothing reaches openssl's command line)", () => {
    for (const bad of ["a b", "x;rm -rf /", "-subj", "a/b", "", "é.example.org"])
      expect(() => leafTls("auto", fresh(), [bad])).toThrow(/not a host name/);
  });

  it("says what to install when openssl is missing", () => {
    const path = process.env.PATH;
    process.env.PATH = fresh();
    try {
      expect(() => leafTls("auto", fresh(), ["a.example.org"])).toThrow(/apt-get install openssl/);
    } finally {
      process.env.PATH = path;
    }
  });

  it("serves the operator's certificate, and says what boxes pin", () => {
    const made = leafTls("auto", fresh(), ["hub.example.org"])!;
    const own = leafTls({ certFile: made.certFile, keyFile: made.keyFile }, fresh(), [])!;
    expect(own).toEqual({ certFile: made.certFile, keyFile: made.keyFile, caPem: null });
    expect(enrolmentTls(own)).toEqual({ leafnodeTls: true });
    expect(enrolmentTls(made)).toEqual({ leafnodeTls: true, leafnodeCa: made.caPem });
    expect(enrolmentTls(leafTls("off", fresh(), []))).toEqual({ leafnodeTls: false });
    expect(() => leafTls({ certFile: made.certFile }, fresh(), [])).toThrow(/key file/);
    expect(() => leafTls({ certFile: "/nope.pem", keyFile: made.keyFile }, fresh(), [])).toThrow(
      /does not exist/,
    );
    expect(externalLeafTls("off")).toBeNull();
    expect(externalLeafTls("auto")?.caPem).toBeNull();
  });

  it("sends boxes an operator's CA bundle as clean PEM, and refuses one too big or unreadable", () => {
    const made = leafTls("auto", fresh(), ["hub.example.org"])!;
    const ca = made.caPem!.trim();
    const messy = join(fresh(), "ca.pem");
    writeFileSync(messy, `# our root\r\n${ca.replace(/\n/g, "\r\n")}\r\n\r\n\r\n${ca}\n\n`);
    expect(readCaBundle(messy)).toBe(`${ca}\n${ca}\n`);
    expect(externalLeafTls({ caFile: messy })?.caPem).toBe(`${ca}\n${ca}\n`);
    const huge = join(fresh(), "bundle.pem");
    writeFileSync(huge, `${ca}\n`.repeat(200));
    expect(() => readCaBundle(huge)).toThrow(/over 65536 bytes/);
    const none = join(fresh(), "none.pem");
    writeFileSync(none, "not a certificate");
    expect(() => readCaBundle(none)).toThrow(/no PEM certificate/);
    writeFileSync(none, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    expect(() => readCaBundle(none)).toThrow(/cannot be read/);
  });

  it("reads its settings from the environment and refuses a bad mode", () => {
    expect(hubLeafTls({})).toEqual({ leafTls: "auto", leafTlsNames: [] });
    expect(hubLeafTls({ NEXUS_HUB_LEAF_TLS: "off" }).leafTls).toBe("off");
    expect(hubLeafTls({ NEXUS_HUB_LEAF_TLS_NAMES: " a.example.org, ,b " }).leafTlsNames).toEqual([
      "a.example.org",
      "b",
    ]);
    expect(hubLeafTls({ NEXUS_HUB_LEAF_TLS_CERT: "/c", NEXUS_HUB_LEAF_TLS_KEY: "/k" }).leafTls).toEqual({
      certFile: "/c",
      keyFile: "/k",
      caFile: undefined,
    });
    expect(() => hubLeafTls({ NEXUS_HUB_LEAF_TLS: "yes" })).toThrow(/"auto" or "off"/);
    expect(hubLeafTls({ NEXUS_HUB_LEAF_TLS_CHECK_MS: "500" }).leafTlsCheckMs).toBe(500);
    for (const bad of ["0", "soon", "3000000000"])
      expect(() => hubLeafTls({ NEXUS_HUB_LEAF_TLS_CHECK_MS: bad })).toThrow(/milliseconds/);
  });
});

describe("nats-server configs", () => {
  it("the hub's listener requires TLS; a box's remote pins the CA file", () => {
    const hub = hubNatsConfig({
      clientPort: 1,
      leafHost: "0.0.0.0",
      leafPort: 7422,
      storeDir: "/s",
      hubUser: { user: "u", passwordHash: "h" },
      sites: [],
      tls: { certFile: "/c.pem", keyFile: "/k.pem" },
    });
    expect(hub).toContain('tls { cert_file: "/c.pem", key_file: "/k.pem", timeout: 5 }');
    const link = {
      hubUrl: "https://hub",
      site: "s1",
      leafnodeUrl: "nats-leaf://hub.example.org:7422",
      user: "s1",
      password: "p".repeat(20),
      enrolledAt: "",
    };
    const creds = { user: "nexus", pass: "x" };
    const base = { port: 1, storeDir: "/s", site: "s1", creds, hubCaFile: "/ca.pem" };
    expect(natsConfig({ ...base, hub: { ...link, leafnodeTls: true, leafnodeCa: "PEM" } })).toContain(
      'tls: { ca_file: "/ca.pem" }',
    );
    expect(natsConfig({ ...base, hub: { ...link, leafnodeTls: true } })).toContain("tls: {}");
    expect(natsConfig({ ...base, hub: link })).not.toContain("tls");
  });
});

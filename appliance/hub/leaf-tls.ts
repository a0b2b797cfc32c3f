/**
 * TLS for the hub's leafnode listener, the link every box dials over the open network with its site password.
 * By default the hub is its own small CA: on first start it makes a CA (10 years) and, from it, a server
 * certificate for the names boxes dial (2 years); boxes get the CA certificate at enrolment and pin it, so
 * they trust this hub's listener and nothing else. The server certificate is made again (same CA, enrolled
 * boxes keep working) when the names change or it is within 30 days of expiry. Keys never leave
 * `<hub dir>/secrets` (0600). An organisation with its own PKI passes its certificate and key instead, and
 * the CA boxes should trust (or none: boxes then use the system's trust store).
 *
 * Made with Debian's `openssl` (a dependency of ca-certificates): node can read X.509 but not issue it.
 */
import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";

export interface LeafTls {
  certFile: string;
  keyFile: string;
  /** PEM of the CA boxes pin (sent at enrolment); null: boxes use their system trust store. */
  caPem: string | null;
}

/** What the operator chose: the hub's own CA (default), their own certificate, or no TLS on the link. */
export type LeafTlsSetting = "auto" | "off" | { certFile?: string; keyFile?: string; caFile?: string };

/** What boxes are told at enrolment: speak TLS to the leafnode listener, and which CA to pin (if any). */
export interface LeafTlsAnswer {
  leafnodeTls: boolean;
  leafnodeCa?: string;
}

export function enrolmentTls(tls: LeafTls | null): LeafTlsAnswer {
  if (!tls) return { leafnodeTls: false };
  return tls.caPem ? { leafnodeTls: true, leafnodeCa: tls.caPem } : { leafnodeTls: true };
}

/**
 * An existing NATS cluster's leafnode listener is configured by its operators, not by the hub: boxes use TLS
 * unless the setting is "off", pinning `caFile` when given, else trusting the system's store.
 */
export function externalLeafTls(setting: LeafTlsSetting): LeafTls | null {
  if (setting === "off") return null;
  const caFile = setting === "auto" ? undefined : setting.caFile;
  return { certFile: "", keyFile: "", caPem: caFile ? readCaBundle(caFile) : null };
}

/** Boxes accept a CA bundle of at most this size in an enrolment answer. */
export const MAX_CA_PEM_BYTES = 64 * 1024;

/**
 * An operator's CA file as clean PEM (what boxes accept: no comments, blank lines or CRLF), checked at start so
 * that no enrolment fails after its one-time token was spent.
 */
export function readCaBundle(file: string): string {
  if (!existsSync(file)) throw new Error(`leafnode TLS: ${file} does not exist`);
  const blocks = readFileSync(file, "utf8").match(
    /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g,
  );
  if (!blocks) throw new Error(`leafnode TLS: ${file} holds no PEM certificate`);
  let pem = "";
  for (const b of blocks) {
    try {
      pem += new X509Certificate(b).toString();
    } catch {
      throw new Error(`leafnode TLS: ${file} holds a certificate that cannot be read`);
    }
  }
  if (Buffer.byteLength(pem) > MAX_CA_PEM_BYTES)
    throw new Error(
      `leafnode TLS: ${file} is over ${MAX_CA_PEM_BYTES} bytes; give only the CA that issued the hub's certificate`,
    );
  return pem;
}

const RENEW_BEFORE_MS = 30 * 86_400_000;
const NAME =
  /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The certificate and key to serve, made or renewed when needed; null when TLS is off. */
export function leafTls(setting: LeafTlsSetting, secretsDir: string, names: string[]): LeafTls | null {
  if (setting === "off") return null;
  if (setting !== "auto") {
    if (!setting.certFile || !setting.keyFile)
      throw new Error("leafnode TLS: a certificate needs both its file and its key file");
    for (const f of [setting.certFile, setting.keyFile])
      if (!existsSync(f)) throw new Error(`leafnode TLS: ${f} does not exist`);
    new X509Certificate(readFileSync(setting.certFile)); // fails loudly on a file that is not a certificate
    return {
      certFile: setting.certFile,
      keyFile: setting.keyFile,
      caPem: setting.caFile ? readCaBundle(setting.caFile) : null,
    };
  }
  // "hub.example.org." is the same name; an IPv6 address may come in brackets from a URL.
  const wanted = [...new Set(names.map((n) => n.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "")))].sort();
  for (const n of wanted)
    if (!isIP(n) && !NAME.test(n)) throw new Error(`leafnode TLS: not a host name or IP address: ${n}`);
  const f = {
    caCert: join(secretsDir, "leaf-ca.pem"),
    caKey: join(secretsDir, "leaf-ca.key"),
    cert: join(secretsDir, "leaf-server.pem"),
    key: join(secretsDir, "leaf-server.key"),
  };
  if (!existsSync(f.caCert) || !existsSync(f.caKey)) makeCa(f.caCert, f.caKey);
  checkCa(f.caCert, f.caKey);
  if (!serverCertFits(f.cert, f.key, f.caCert, wanted)) makeServerCert(f, wanted);
  return { certFile: f.cert, keyFile: f.key, caPem: readFileSync(f.caCert, "utf8") };
}

/** The names a server certificate covers (DNS and IP subject alternative names). */
export function certNames(pem: string): string[] {
  const san = new X509Certificate(pem).subjectAltName ?? "";
  return san
    .split(", ")
    .map((s) => s.replace(/^(DNS|IP Address):/, ""))
    .filter(Boolean)
    .sort();
}

const spki = (k: KeyObject) => k.export({ format: "der", type: "spki" });
const keyMatches = (cert: X509Certificate, keyFile: string) =>
  spki(createPublicKey(createPrivateKey(readFileSync(keyFile)))).equals(spki(cert.publicKey));

/**
 * The CA boxes pin must be whole: it is never made again by itself (every enrolled box would have to enrol
 * again), so a damaged one stops the hub with a message saying so.
 */
function checkCa(certFile: string, keyFile: string): void {
  let ok = false;
  try {
    ok = keyMatches(new X509Certificate(readFileSync(certFile)), keyFile);
  } catch {
    ok = false;
  }
  if (!ok)
    throw new Error(
      `leafnode TLS: the hub's CA (${certFile}, ${keyFile}) is damaged or its key does not match. Restore ` +
        "both from a backup; or remove both to make a new CA, after which every box enrols again",
    );
}

function serverCertFits(certFile: string, keyFile: string, caFile: string, names: string[]): boolean {
  if (!existsSync(certFile) || !existsSync(keyFile)) return false;
  try {
    const cert = new X509Certificate(readFileSync(certFile));
    if (!cert.verify(new X509Certificate(readFileSync(caFile)).publicKey)) return false;
    // A crash between writing the key and the certificate leaves a pair that does not match.
    if (!keyMatches(cert, keyFile)) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    // Compared as TLS clients will (`::1` and `0:0:0:0:0:0:0:1` are one address).
    return names.every(
      (n) => (isIP(n) ? cert.checkIP(n) : cert.checkHost(n, { wildcards: false })) !== undefined,
    );
  } catch {
    return false; // a damaged file: made again
  }
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT")
      throw new Error(
        "leafnode TLS needs the openssl command (apt-get install openssl); or give your own certificate " +
          "(NEXUS_HUB_LEAF_TLS_CERT, NEXUS_HUB_LEAF_TLS_KEY)",
      );
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim().slice(0, 500) || e.message}`);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Writes with `make(tmpKey, tmpCert)`, then renames key and certificate into place (a crash leaves no half file). */
function atomically(keyFile: string, certFile: string, make: (key: string, cert: string) => void): void {
  const [key, cert] = [`${keyFile}.tmp`, `${certFile}.tmp`];
  try {
    make(key, cert);
    chmodSync(key, 0o600);
    renameSync(key, keyFile);
    renameSync(cert, certFile);
  } finally {
    rmSync(key, { force: true });
    rmSync(cert, { force: true });
  }
}

function makeCa(certFile: string, keyFile: string): void {
  atomically(keyFile, certFile, (key, cert) =>
    openssl([
      "req",
      "-x509",
      ...EC,
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "3650",
      "-subj",
      "/CN=Nexus hub leafnode CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE,pathlen:0",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]),
  );
}

function makeServerCert(f: { caCert: string; caKey: string; cert: string; key: string }, names: string[]) {
  const csr = `${f.cert}.csr`;
  const ext = `${f.cert}.ext`;
  const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  writeFileSync(
    ext,
    `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n`,
    { mode: 0o600 },
  );
  try {
    atomically(f.key, f.cert, (key, cert) => {
      openssl(["req", ...EC, "-keyout", key, "-out", csr, "-subj", `/CN=${names[0] ?? "nexus-hub"}`]);
      openssl([
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        f.caCert,
        "-CAkey",
        f.caKey,
        "-set_serial",
        `0x${BigInt(Date.now()).toString(16)}`,
        "-days",
        "730",
        "-extfile",
        ext,
        "-out",
        cert,
      ]);
    });
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
}

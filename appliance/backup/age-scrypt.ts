/**
 * age's scrypt recipient and identity (the passphrase stanza, age-encryption.org/v1) on Node's native
 * scrypt, plugged into typage through its Recipient/Identity interfaces. typage's own scrypt is pure
 * JavaScript (2.5 s or more for work factor 18 on this box); the stanza is the same, so a manifest stays a
 * plain passphrase-encrypted age file (`age -d` opens it).
 */
import { randomBytes, scrypt } from "node:crypto";
import { type Identity, type Recipient, Stanza } from "age-encryption";
import { b64, openFileKey, sealFileKey } from "./age-x25519.js";

const LABEL = "age-encryption.org/v1/scrypt";
const MAX_LOG_N = 22;

/** scrypt(N = 2^logN, r = 8, p = 1) of the label and salt; its memory (128·r·N bytes) is allowed explicitly. */
function wrapKey(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((ok, fail) =>
    scrypt(
      passphrase,
      Buffer.concat([Buffer.from(LABEL), salt]),
      32,
      { N, r: 8, p: 1, maxmem: 128 * 8 * (N + 2) + 2 ** 25 },
      (err, key) => (err ? fail(err) : ok(key)),
    ),
  );
}

/**
 * Encrypts the file key to a passphrase: one `scrypt <salt> <logN>` stanza. The salt is drawn and scrypt
 * started at once (on the thread pool), so a caller can make the recipient early and let the key derivation
 * run while it does other work; the recipient wraps one file key (a fresh salt per file).
 */
export function scryptRecipient(passphrase: string, logN: number): Recipient {
  const salt = randomBytes(16);
  const derived = wrapKey(passphrase, salt, logN);
  derived.catch(() => {}); // awaited by wrapFileKey; not an unhandled rejection before that
  let used = false;
  return {
    async wrapFileKey(fileKey: Uint8Array) {
      if (used) throw new Error("a scrypt recipient wraps one file key: make another for the next file");
      used = true;
      const key = await derived;
      return [new Stanza(["scrypt", b64(salt), String(logN)], sealFileKey(key, fileKey))];
    },
  };
}

/** Decrypts a passphrase-encrypted file key; null when the file has no scrypt stanza or the passphrase is wrong. */
export function scryptIdentity(passphrase: string): Identity {
  return {
    async unwrapFileKey(stanzas: Stanza[]) {
      const s = stanzas.find((x) => x.args[0] === "scrypt");
      if (!s) return null;
      if (stanzas.length !== 1) throw new Error("scrypt recipient is not the only one in the header");
      const [, saltB64, logNs] = s.args;
      const salt = Buffer.from(saltB64 ?? "", "base64");
      if (
        s.args.length !== 3 ||
        salt.length !== 16 ||
        !/^[1-9][0-9]*$/.test(logNs ?? "") ||
        s.body.length !== 32
      ) {
        throw new Error("invalid scrypt stanza");
      }
      if (Number(logNs) > MAX_LOG_N) throw new Error("scrypt work factor is too high");
      return openFileKey(await wrapKey(passphrase, salt, Number(logNs)), s.body);
    },
  };
}

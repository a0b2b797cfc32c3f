/**
 * age's X25519 recipient stanza (age-encryption.org/v1) on Node's native X25519, and the header around it.
 * typage's own X25519 goes through WebCrypto (an importKey per call, on the event loop) and its header
 * through web streams: a millisecond or more per object, which a backup of many small blobs pays per blob.
 * The stanza and header are the spec's, so every object stays a plain age file (`age -d -i key` opens it);
 * age-stream.test.ts opens ours with typage and typage's with ours. A fresh file key and ephemeral share per
 * object, as age does: nothing is shared between two objects but the recipient.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { bech32 } from "@scure/base";
import { type Identity, Stanza } from "age-encryption";

const LABEL = "age-encryption.org/v1/X25519";
const ZERO_NONCE = Buffer.alloc(12);
// DER prefixes of a raw X25519 key (RFC 8410): SubjectPublicKeyInfo and PKCS#8.
const SPKI = Buffer.from("302a300506032b656e032100", "hex");
const PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");

const publicKey = (raw: Uint8Array) =>
  createPublicKey({ key: Buffer.concat([SPKI, raw]), format: "der", type: "spki" });
const rawPublic = (k: KeyObject) => k.export({ format: "der", type: "spki" }).subarray(SPKI.length);

/** base64 without padding, as age writes it. */
export const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64").replace(/=+$/, "");

function decodeKey(s: string, prefix: string, what: string): Uint8Array {
  let res: { prefix: string; bytes: Uint8Array };
  try {
    res = bech32.decodeToBytes(s);
  } catch {
    throw new Error(`not an age ${what}`);
  }
  if (res.prefix.toLowerCase() !== prefix || res.bytes.length !== 32) throw new Error(`not an age ${what}`);
  return res.bytes;
}

/** The wrap key of one stanza: HKDF-SHA256(shared secret, salt = share ‖ recipient, info = the label). */
function wrapKey(secret: Buffer, share: Uint8Array, recipient: Uint8Array): Buffer {
  if (secret.every((b) => b === 0)) throw new Error("X25519 shared secret is all zeroes");
  return Buffer.from(hkdfSync("sha256", secret, Buffer.concat([share, recipient]), LABEL, 32));
}

/** A stanza's body: the file key sealed with ChaCha20-Poly1305 under `key` and a zero nonce. */
export function sealFileKey(key: Buffer, fileKey: Uint8Array): Buffer {
  const c = createCipheriv("chacha20-poly1305", key, ZERO_NONCE, { authTagLength: 16 });
  return Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
}

/** The file key in a stanza's 32-byte body, or null when `key` does not open it. */
export function openFileKey(key: Buffer, body: Uint8Array): Uint8Array | null {
  const d = createDecipheriv("chacha20-poly1305", key, ZERO_NONCE, { authTagLength: 16 });
  d.setAuthTag(Buffer.from(body.subarray(16)));
  try {
    return new Uint8Array(Buffer.concat([d.update(body.subarray(0, 16)), d.final()]));
  } catch {
    return null;
  }
}

const recipients = new Map<string, { raw: Uint8Array; key: KeyObject }>();

/** One `X25519` stanza wrapping `fileKey` to `recipient` (`age1…`). */
export function x25519Stanza(recipient: string, fileKey: Uint8Array): Stanza {
  let r = recipients.get(recipient);
  if (!r) {
    const raw = decodeKey(recipient, "age", "recipient (age1…)");
    r = { raw, key: publicKey(raw) };
    recipients.set(recipient, r);
  }
  const eph = generateKeyPairSync("x25519");
  const share = rawPublic(eph.publicKey);
  const key = wrapKey(diffieHellman({ privateKey: eph.privateKey, publicKey: r.key }), share, r.raw);
  return new Stanza(["X25519", b64(share)], sealFileKey(key, fileKey));
}

/** The header of a new age file for `recipient`, and its file key. */
export function x25519Header(recipient: string): { header: Buffer; fileKey: Buffer } {
  const fileKey = randomBytes(16);
  const s = x25519Stanza(recipient, fileKey);
  const body = b64(s.body); // 32 bytes: one line of 43 characters
  const text = `age-encryption.org/v1\n-> ${s.args.join(" ")}\n${body}\n---`;
  const macKey = Buffer.from(hkdfSync("sha256", fileKey, Buffer.alloc(0), "header", 32));
  const mac = createHmac("sha256", macKey).update(text).digest();
  return { header: Buffer.from(`${text} ${b64(mac)}\n`), fileKey };
}

/** An age identity (`AGE-SECRET-KEY-1…`) that unwraps X25519 stanzas natively; for typage's Decrypter. */
export function x25519Identity(identity: string): Identity {
  const scalar = decodeKey(identity, "age-secret-key-", "identity (AGE-SECRET-KEY-1…)");
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8, scalar]), format: "der", type: "pkcs8" });
  const ours = rawPublic(createPublicKey(privateKey));
  return {
    unwrapFileKey(stanzas: Stanza[]) {
      for (const s of stanzas) {
        if (s.args[0] !== "X25519") continue;
        const share = Buffer.from(s.args[1] ?? "", "base64");
        if (s.args.length !== 2 || share.length !== 32 || s.body.length !== 32) {
          throw new Error("invalid X25519 stanza");
        }
        const key = wrapKey(diffieHellman({ privateKey, publicKey: publicKey(share) }), share, ours);
        const fileKey = openFileKey(key, s.body);
        if (fileKey) return fileKey; // else not this identity's stanza
      }
      return null;
    },
  };
}

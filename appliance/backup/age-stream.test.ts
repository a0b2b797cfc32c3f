import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { describe, expect, it } from "vitest";
import { scryptIdentity, scryptRecipient } from "./age-scrypt.js";
import { newHeader, openStream, sealStream } from "./age-stream.js";

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(out);
}

// Empty, one chunk and a byte, several chunks (exactly one chunk is in the failure test).
const sizes = [0, 65_537, 140_000];

describe("native age payload and passphrase stanza", () => {
  it.each(sizes)("%i bytes: sealed here, opened by typage, and the other way round", async (size) => {
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const plain = randomBytes(size);
    // Only the recipient (the box in recipient mode never holds the identity).
    const { header, fileKey } = await newHeader(recipient);
    // Exactly the header typage writes for that one recipient: one X25519 stanza, nothing of the key capture.
    expect(header.toString().match(/^-> /gm)).toEqual(["-> "]);
    expect(header.toString()).toMatch(/^age-encryption\.org\/v1\n-> X25519 /);
    const sealed = await collect(
      Readable.from([plain.subarray(0, size >> 1), plain.subarray(size >> 1)]).pipe(
        sealStream(header, fileKey),
      ),
    );
    const d = new Decrypter();
    d.addIdentity(identity);
    expect(Buffer.from(await d.decrypt(new Uint8Array(sealed)))).toEqual(plain);

    const e = new Encrypter();
    e.addRecipient(recipient);
    const theirs = Buffer.from(await e.encrypt(new Uint8Array(plain)));
    const opened = await collect(Readable.from([theirs]).pipe(openStream(identity, (err) => err)));
    expect(opened).toEqual(plain);
  });

  it("a passphrase stanza made here opens with typage's passphrase, and typage's opens here", async () => {
    const e = new Encrypter();
    e.addRecipient(scryptRecipient("pass phrase", 12));
    const mine = await e.encrypt("manifest");
    const d = new Decrypter();
    d.addPassphrase("pass phrase");
    expect(await d.decrypt(mine, "text")).toBe("manifest");
    const t = new Encrypter();
    t.setPassphrase("pass phrase");
    t.setScryptWorkFactor(12);
    const theirs = await t.encrypt("typage");
    const mineD = new Decrypter();
    mineD.addIdentity(scryptIdentity("pass phrase"));
    expect(await mineD.decrypt(theirs, "text")).toBe("typage");
    const wrong = new Decrypter();
    wrong.addIdentity(scryptIdentity("another"));
    await expect(wrong.decrypt(theirs, "text")).rejects.toThrow();
  });

  it("the default work factor (18) fits in the memory scrypt is allowed", async () => {
    const e = new Encrypter();
    e.addRecipient(scryptRecipient("pass phrase", 18));
    const d = new Decrypter();
    d.addIdentity(scryptIdentity("pass phrase"));
    expect(await d.decrypt(await e.encrypt("x"), "text")).toBe("x");
  });

  it("a flipped byte, a truncation or another identity fails", async () => {
    const identity = await generateX25519Identity();
    const { header, fileKey } = await newHeader(await identityToRecipient(identity));
    const open = (b: Buffer, id = identity) =>
      collect(Readable.from([b]).pipe(openStream(id, () => new Error("wrong key"))));
    const sealed = await collect(Readable.from([randomBytes(3 * 65_536)]).pipe(sealStream(header, fileKey)));
    expect((await open(sealed)).length).toBe(3 * 65_536);
    const flipped = Buffer.from(sealed);
    flipped.writeUInt8(flipped.readUInt8(100_000) ^ 1, 100_000);
    await expect(open(flipped)).rejects.toThrow();
    await expect(open(sealed.subarray(0, sealed.length - 70_000))).rejects.toThrow();
    await expect(open(sealed, await generateX25519Identity())).rejects.toThrow("wrong key");
  });

  it("a large object goes through the crypto threads: typage opens it, the digests are right, damage fails", async () => {
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const plain = randomBytes(3 * 1024 * 1024 + 5);
    const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
    const { header, fileKey } = await newHeader(recipient);
    // Chunks that own their memory (as a file read's do) are moved to the thread: give it copies.
    const pieces = () =>
      [0, 1, 2, 3].map((i) => Buffer.from(plain.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024)));
    let counted = 0;
    const seal = sealStream(header, fileKey, {
      hashStored: true,
      moveChunks: true,
      onBytes: (n) => (counted += n),
    });
    const sealed = await collect(Readable.from(pieces()).pipe(seal));
    expect(seal.digests()).toEqual({
      plain: { sha256: sha(plain), size: plain.length },
      stored: { sha256: sha(sealed), size: sealed.length },
    });
    expect(counted).toBe(plain.length);
    const d = new Decrypter();
    d.addIdentity(identity);
    expect(Buffer.from(await d.decrypt(new Uint8Array(sealed))).equals(plain)).toBe(true);

    const e = new Encrypter();
    e.addRecipient(recipient);
    const theirs = Buffer.from(await e.encrypt(new Uint8Array(plain)));
    const open = openStream(identity, (err) => err, { hashStored: true });
    expect((await collect(Readable.from([theirs]).pipe(open))).equals(plain)).toBe(true);
    expect(open.digests().stored).toEqual({ sha256: sha(theirs), size: theirs.length });
    expect(open.digests().plain.sha256).toBe(sha(plain));

    const flipped = Buffer.from(sealed);
    flipped.writeUInt8(flipped.readUInt8(2_000_000) ^ 1, 2_000_000);
    await expect(
      collect(Readable.from([flipped]).pipe(openStream(identity, (err) => err))),
    ).rejects.toThrow();
  });
});

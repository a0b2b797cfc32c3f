import { Decrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { describe, expect, it } from "vitest";
import { x25519Header, x25519Identity } from "./age-x25519.js";

describe("native X25519 stanzas", () => {
  it("a header made here gives typage the same file key; a fresh key and share per header", async () => {
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const a = x25519Header(recipient);
    const b = x25519Header(recipient);
    const d = new Decrypter();
    d.addIdentity(identity);
    expect(Buffer.from(await d.decryptHeader(a.header))).toEqual(a.fileKey);
    expect(a.fileKey).not.toEqual(b.fileKey);
    expect(a.header.toString().split("\n")[1]).not.toBe(b.header.toString().split("\n")[1]);
    // The native identity opens it too; another identity does not (null: typage then says no identity matched).
    const mine = new Decrypter();
    mine.addIdentity(x25519Identity(identity));
    expect(Buffer.from(await mine.decryptHeader(a.header))).toEqual(a.fileKey);
    const other = new Decrypter();
    other.addIdentity(x25519Identity(await generateX25519Identity()));
    await expect(other.decryptHeader(a.header)).rejects.toThrow();
  });

  it("refuses a key that is not an X25519 recipient or identity", async () => {
    const recipient = await identityToRecipient(await generateX25519Identity());
    expect(() => x25519Header(`${recipient.slice(0, -1)}${recipient.endsWith("q") ? "p" : "q"}`)).toThrow(
      /not an age recipient/,
    );
    expect(() => x25519Identity("AGE-SECRET-KEY-1QQQQ")).toThrow(/not an age identity/);
  });
});

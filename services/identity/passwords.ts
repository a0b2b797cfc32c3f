/**
 * Password hashing with scrypt (memory-hard, in node:crypto): `scrypt$N$r$p$salt$hash`. Parameters are
 * stored with each hash so they can be raised later without invalidating old passwords.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const N = 2 ** 15;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, KEYLEN, { N: n, r, p, maxmem: MAXMEM }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Hashes a password for storage. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

/** A hash of a random password: verifying against it costs what a real check costs (no timing oracle). */
export const DUMMY_HASH = await hashPassword(randomBytes(16).toString("hex"));

/** Checks a password against a stored hash in constant time. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parts = (stored ?? DUMMY_HASH).split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, "base64url");
  let got: Buffer;
  try {
    got = await derive(password, Buffer.from(salt, "base64url"), Number(n), Number(r), Number(p));
  } catch {
    // Unusable parameters (a corrupt or foreign hash: N not a power of two, over the memory cap) match
    // nothing; without this a login against such a row was a 500 instead of a 401.
    return false;
  }
  return stored !== null && got.length === expected.length && timingSafeEqual(got, expected);
}

/** Why a new password is not acceptable, or null. */
export function passwordProblem(password: string, username: string, minLength: number): string | null {
  if (password.length < minLength) return `password must have at least ${minLength} characters`;
  if (password.length > 256) return "password must have at most 256 characters";
  if (password.toLowerCase().includes(username.toLowerCase()))
    return "password must not contain the username";
  if (/^(.)\1*$/.test(password)) return "password must not be one repeated character";
  return null;
}

/**
 * A random password for admin resets: 20 characters, shown once. Pass the username: a random string that
 * happens to contain it (about 2% of the time for a two-letter name) fails `passwordProblem`, and the
 * reset answered 400 by chance.
 */
export function temporaryPassword(username = ""): string {
  for (;;) {
    const pw = randomBytes(15).toString("base64url");
    if (!username || !pw.toLowerCase().includes(username.toLowerCase())) return pw;
  }
}

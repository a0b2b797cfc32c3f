/**
 * EXIF for photo variants, byte by byte (no library, no shell): the original JPEG's Exif APP1 is copied into
 * the variants when a space keeps EXIF, with Orientation set to 1 (the pixels are upright already), the
 * IFD1 thumbnail unlinked (it shows the original, unrotated), and the GPS IFD removed (its pointer taken out
 * of IFD0 and every byte it used zeroed) unless GPS is kept. Anything malformed drops EXIF altogether: a
 * variant never carries a block this code could not read.
 */
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const TYPE_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
};
const ORIENTATION = 0x0112;
const GPS_IFD = 0x8825;
const EXIF_HEADER = Buffer.from("Exif\0\0", "latin1");

/** The TIFF payload of the first Exif APP1 segment of a JPEG, or null. */
export function exifOfJpeg(jpeg: Buffer): Buffer | null {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return null;
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end: no more headers
    const len = jpeg.readUInt16BE(at + 2);
    if (len < 2 || at + 2 + len > jpeg.length) return null;
    const body = jpeg.subarray(at + 4, at + 2 + len);
    if (marker === 0xe1 && body.subarray(0, 6).equals(EXIF_HEADER)) return Buffer.from(body.subarray(6));
    at += 2 + len;
  }
  return null;
}

/** A JPEG without Exif APP1 segments, with `tiff` (when given) as its first segment after SOI. */
export function withExif(jpeg: Buffer, tiff: Buffer | null): Buffer {
  const parts: Buffer[] = [jpeg.subarray(0, 2)];
  if (tiff) {
    const body = Buffer.concat([EXIF_HEADER, tiff]);
    if (body.length + 2 > 0xffff) throw new Error("EXIF block too large for one APP1 segment");
    const head = Buffer.from([0xff, 0xe1, 0, 0]);
    head.writeUInt16BE(body.length + 2, 2);
    parts.push(head, body);
  }
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    if (marker === 0xda) break;
    const len = jpeg.readUInt16BE(at + 2);
    const body = jpeg.subarray(at + 4, at + 2 + len);
    if (!(marker === 0xe1 && body.subarray(0, 6).equals(EXIF_HEADER)))
      parts.push(jpeg.subarray(at, at + 2 + len));
    at += 2 + len;
  }
  parts.push(jpeg.subarray(at));
  return Buffer.concat(parts);
}

class Tiff {
  readonly le: boolean;
  constructor(readonly b: Buffer) {
    const order = b.subarray(0, 2).toString("latin1");
    if (b.length < 8 || (order !== "II" && order !== "MM")) throw new Error("not a TIFF header");
    this.le = order === "II";
  }
  u16 = (o: number) => {
    this.check(o, 2);
    return this.le ? this.b.readUInt16LE(o) : this.b.readUInt16BE(o);
  };
  u32 = (o: number) => {
    this.check(o, 4);
    return this.le ? this.b.readUInt32LE(o) : this.b.readUInt32BE(o);
  };
  w16 = (o: number, v: number) => (this.le ? this.b.writeUInt16LE(v, o) : this.b.writeUInt16BE(v, o));
  w32 = (o: number, v: number) => (this.le ? this.b.writeUInt32LE(v, o) : this.b.writeUInt32BE(v, o));
  check(o: number, n: number) {
    if (o < 0 || o + n > this.b.length) throw new Error("EXIF offset out of range");
  }
}

/** Whether the EXIF (TIFF payload) has a GPS IFD. */
export function exifHasGps(tiff: Buffer): boolean {
  try {
    const t = new Tiff(tiff);
    const ifd0 = t.u32(4);
    const n = t.u16(ifd0);
    for (let i = 0; i < n; i++) if (t.u16(ifd0 + 2 + i * 12) === GPS_IFD) return true;
    return false;
  } catch {
    return false;
  }
}

/**
 * The EXIF for a variant: a copy of `tiff` with Orientation 1, no IFD1 thumbnail, and (when `dropGps`) no GPS
 * IFD. Null when the block cannot be read (the variant then gets no EXIF).
 */
export function variantExif(tiff: Buffer, opts: { dropGps: boolean }): Buffer | null {
  try {
    const t = new Tiff(Buffer.from(tiff));
    const ifd0 = t.u32(4);
    let n = t.u16(ifd0);
    t.check(ifd0, 2 + n * 12 + 4);
    for (let i = 0; i < n; i++) {
      const e = ifd0 + 2 + i * 12;
      const tag = t.u16(e);
      if (tag === ORIENTATION && t.u16(e + 2) === 3) t.w16(e + 8, 1);
      if (tag === GPS_IFD && opts.dropGps) {
        zeroIfd(t, t.u32(e + 8));
        // Take the entry out: the later entries and the next-IFD pointer move up, the freed bytes are zeroed.
        t.b.copy(t.b, e, e + 12, ifd0 + 2 + n * 12 + 4);
        n -= 1;
        t.w16(ifd0, n);
        t.b.fill(0, ifd0 + 2 + n * 12 + 4, ifd0 + 2 + (n + 1) * 12 + 4);
        i -= 1;
      }
    }
    t.w32(ifd0 + 2 + n * 12, 0); // no IFD1 (its thumbnail is of the unrotated original)
    return t.b;
  } catch {
    return null;
  }
}

/** Zeroes an IFD's entry table and every value it points to. */
function zeroIfd(t: Tiff, at: number): void {
  const n = t.u16(at);
  t.check(at, 2 + n * 12 + 4);
  for (let i = 0; i < n; i++) {
    const e = at + 2 + i * 12;
    const bytes = (TYPE_SIZE[t.u16(e + 2)] ?? 1) * t.u32(e + 4);
    if (bytes > 4) {
      const off = t.u32(e + 8);
      t.check(off, bytes);
      t.b.fill(0, off, off + bytes);
    }
  }
  t.b.fill(0, at, at + 2 + n * 12 + 4);
}

/**
 * Puts the source's EXIF into each JPEG variant in `work` as `policy` says. A variant that ends up with GPS
 * and a space whose share links strip it also gets `<name>.shared`, its GPS-free copy for signed URLs.
 */
export function exifIntoVariants(
  source: string,
  work: string,
  names: readonly string[],
  policy: { exif: "keep" | "strip"; gps: "keep" | "strip"; shareLinkGps: "keep" | "strip" },
): void {
  if (policy.exif !== "keep") return; // the encoders wrote none
  const fd = openSync(source, "r");
  const head = Buffer.alloc(256 * 1024);
  const got = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  const tiff = exifOfJpeg(head.subarray(0, got));
  if (!tiff) return;
  const own = variantExif(tiff, { dropGps: policy.gps === "strip" });
  const shared =
    own && exifHasGps(own) && policy.shareLinkGps === "strip" ? variantExif(own, { dropGps: true }) : null;
  for (const name of names) {
    const file = join(work, name);
    const jpeg = readFileSync(file);
    writeFileSync(file, withExif(jpeg, own));
    if (shared) writeFileSync(`${file}.shared`, withExif(jpeg, shared));
  }
}

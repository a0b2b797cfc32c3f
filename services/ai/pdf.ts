/**
 * PDF pages as images for OCR: `pdftoppm` (poppler-utils) renders each page to PNG with its longer side scaled
 * to `PAGE_PIXELS`, so a page of any declared size cannot become a pixel bomb; at most `maxPages` pages, within a
 * time limit. The PDF goes to a private temporary folder, removed afterwards.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageError } from "./image.js";

/** Longer side of a rendered page, in pixels (≈ 140 dpi for A4; the text detector works at 960 px anyway). */
export const PAGE_PIXELS = 1600;

/** True when the bytes start like a PDF file. */
export const isPdf = (b: Buffer) => b.subarray(0, 5).toString("latin1") === "%PDF-";

/** The first `maxPages` pages of a PDF as PNG files' bytes, in page order. Throws ImageError. */
export async function pdfPages(
  pdf: Buffer,
  opts: { maxPages: number; timeoutMs: number },
): Promise<Buffer[]> {
  const dir = mkdtempSync(join(tmpdir(), "nexus-ai-pdf-"));
  try {
    writeFileSync(join(dir, "in.pdf"), pdf, { mode: 0o600 });
    const args = ["-png", "-scale-to", String(PAGE_PIXELS), "-f", "1", "-l", String(opts.maxPages)];
    await new Promise<void>((resolve, reject) => {
      execFile(
        "pdftoppm",
        [...args, join(dir, "in.pdf"), join(dir, "page")],
        { timeout: opts.timeoutMs, maxBuffer: 1024 * 1024 },
        (err, _out, stderr) => {
          if (!err) return resolve();
          if ((err as NodeJS.ErrnoException).code === "ENOENT")
            return reject(new ImageError(501, "PDF pages need pdftoppm (Debian package poppler-utils)"));
          const why = err.killed ? "took too long" : String(stderr).trim().split("\n")[0] || err.message;
          reject(new ImageError(400, `the PDF could not be rendered: ${why}`));
        },
      );
    });
    const pages = readdirSync(dir)
      .filter((f) => /^page-\d+\.png$/.test(f))
      .sort((a, b) => Number(a.match(/\d+/)?.[0]) - Number(b.match(/\d+/)?.[0]));
    if (pages.length === 0) throw new ImageError(400, "the PDF has no pages");
    return pages.map((f) => readFileSync(join(dir, f)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

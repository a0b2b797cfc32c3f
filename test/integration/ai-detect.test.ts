/**
 * Object and face detection through a real appliance: the built-in CenterNet COCO and BlazeFace packs with their
 * licence, a face ImageMagick draws (skin ellipse, hair, eyes, brows, nose, mouth, softened) found where it was
 * drawn, nothing on a blank image, the face pixelated in the ?blur=true output (the rest of the PNG unchanged),
 * and bad input answered with 4xx.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COCO_LABELS } from "../../services/ai/detect-post.js";
import { decodeImage } from "../../services/ai/image.js";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";
import { drawnFace } from "../helpers/audio.js";

let app: TestAppliance;
beforeAll(async () => {
  app = await startTestAppliance({ services: ["ai"], env: { NEXUS_AI_MAX_IMAGE_PIXELS: "4000000" } });
}, 60_000);
afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

interface Found {
  label: string;
  score: number;
  box: { x: number; y: number; width: number; height: number };
}
const detect = async (body: Buffer | string, query = "") => {
  const res = await app.api(`/api/ai/detect${query}`, { method: "POST", body });
  // biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};

describe("detection", () => {
  it("ships CenterNet COCO and BlazeFace as built-in tfjs packs with their MIT licence", async () => {
    for (const name of ["centernet-coco", "blazeface"]) {
      const res = await app.api(`/api/ai/models/${name}`);
      expect(await res.json()).toMatchObject({
        task: "detect",
        runtime: "tfjs",
        license: "MIT",
        builtin: true,
        manifest: { licenseFile: "LICENSE" },
      });
    }
  });

  it("finds the drawn face where it was drawn, answers well-formed objects, and nothing on a blank image", async () => {
    const r = await detect(drawnFace());
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ width: 320, height: 320 });
    expect(r.body.faces.length).toBeGreaterThanOrEqual(1);
    const face = r.body.faces[0] as Found;
    expect(face.label).toBe("face");
    expect(face.score).toBeGreaterThan(0.6);
    const cx = face.box.x + face.box.width / 2;
    const cy = face.box.y + face.box.height / 2;
    expect(Math.abs(cx - 160)).toBeLessThan(30);
    expect(Math.abs(cy - 170)).toBeLessThan(40);
    expect(face.box.width).toBeGreaterThan(80);
    expect(face.box.width).toBeLessThan(260);
    for (const o of r.body.objects as Found[]) {
      expect(COCO_LABELS).toContain(o.label);
      expect(o.score).toBeGreaterThanOrEqual(0.3);
      expect(o.score).toBeLessThanOrEqual(1);
      expect(o.box.x + o.box.width).toBeLessThanOrEqual(320);
      expect(o.box.y + o.box.height).toBeLessThanOrEqual(320);
    }
    const blank = execFileSync("convert", ["-size", "400x300", "xc:#8fb4d8", "jpg:-"]);
    const none = await detect(blank, "?maxResults=5");
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ width: 400, height: 300, faces: [] });
    const facesOnly = await detect(drawnFace(), "?objects=false");
    expect(facesOnly.body.objects).toBeUndefined();
    expect(facesOnly.body.faces[0].box).toEqual(face.box);
  }, 60_000);

  it("returns the image with the face pixelated (?blur=true); the rest of the PNG is unchanged", async () => {
    const png = drawnFace();
    const res = await app.api("/api/ai/detect?blur=true", { method: "POST", body: png });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(Number(res.headers.get("x-faces"))).toBeGreaterThanOrEqual(1);
    const [box] = JSON.parse(res.headers.get("x-face-boxes") as string) as Found["box"][];
    const before = await decodeImage(png, 1e6);
    const after = await decodeImage(Buffer.from(await res.arrayBuffer()), 1e6);
    expect([after.width, after.height]).toEqual([320, 320]);
    const b = box as Found["box"];
    // Inside the box: large blocks of one colour, so far fewer distinct colours than before.
    const colours = (img: typeof before) => {
      const seen = new Set<number>();
      for (let y = b.y; y < b.y + b.height; y++)
        for (let x = b.x; x < b.x + b.width; x++) {
          const i = (y * 320 + x) * 3;
          seen.add(
            ((img.data[i] as number) << 16) |
              ((img.data[i + 1] as number) << 8) |
              (img.data[i + 2] as number),
          );
        }
      return seen.size;
    };
    expect(colours(after)).toBeLessThan(colours(before) / 10);
    // A corner far from the face is byte for byte the same (PNG is lossless).
    expect(Buffer.from(after.data.subarray(0, 320 * 3 * 10))).toEqual(
      Buffer.from(before.data.subarray(0, 320 * 3 * 10)),
    );
  }, 60_000);

  it("answers bad input with a 4xx and a clear message", async () => {
    const face = drawnFace();
    for (const q of ["?minScore=2", "?maxResults=0", "?objects=maybe", "?objects=false&faces=false"]) {
      const r = await detect(face, q);
      expect(r.status, q).toBe(400);
      expect(r.body.status).toBe(400);
    }
    const notImage = await detect("hello");
    expect(notImage.status).toBe(400);
    expect(notImage.body.message).toMatch(/not an image/);
    expect((await detect("")).status).toBe(400);
    const giant = Buffer.alloc(33);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]).copy(giant);
    giant.write("IHDR", 12, "ascii");
    giant.writeUInt32BE(100_000, 16);
    giant.writeUInt32BE(100_000, 20);
    expect((await detect(giant)).status).toBe(413);
    expect((await detect(face.subarray(0, 200))).status).toBe(400);
  }, 30_000);
});

/**
 * Model packs through the hub (appliance/hub/pack-routes.ts): what the hub's verification (unpack, every
 * file's sha256, the signature) costs over storing the same bytes unverified. One hub process on PGlite; each
 * round uploads a fresh signed pack of BENCH_PACK_MB (default 32) random "model" bytes as an admin, and the same
 * number of fresh random bytes as a box's blob upload (`PUT /api/hub/blobs/<sha>`, streamed to the same blob
 * store, nothing unpacked): the baseline, in the same run on the same hub.
 *
 *   hub_pack_upload_ms     median time of a pack upload, answered once verified and stored
 *   hub_blob_upload_ms     median time of a blob upload of the same size
 *   hub_pack_verify_ratio  pack / blob (1.0: verification costs nothing over receiving and storing)
 *
 * Knobs: BENCH_PACK_MB (32), BENCH_PACK_ROUNDS (3).
 */
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HubLink, readHubLink } from "../../appliance/sync/hub-link.js";
import { buildPack } from "../../services/ai/pack.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { enrolWith, hubProcess } from "../helpers/hub.js";
import { addManifest } from "../helpers/onnx.js";
import { envNumber, median, metric, note, onCleanup } from "./util.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

export async function hubPacksBench(): Promise<void> {
  const mb = envNumber("BENCH_PACK_MB", 32);
  const rounds = envNumber("BENCH_PACK_ROUNDS", 3);
  const tmp = tempDir("nexus-bench-packs-");
  const vendor = generateKeyPairSync("ed25519");
  writeFileSync(join(tmp, "vendor.pem"), vendor.publicKey.export({ type: "spki", format: "pem" }));
  const hub = await hubProcess({ env: { NEXUS_HUB_PACK_TRUST_KEYS: join(tmp, "vendor.pem") } });
  const done = onCleanup(async () => {
    await hub.stop();
    removeDir(hub.dir);
    removeDir(tmp);
  });
  await hub.start();
  await enrolWith(hub, join(tmp, "site"), "bench-site");
  const link = readHubLink(join(tmp, "site")) as HubLink;
  const basic = `Basic ${Buffer.from(`${link.user}:${link.password}`).toString("base64")}`;
  const packMs: number[] = [];
  const blobMs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const model = randomBytes(mb * 1024 * 1024);
    const manifest = addManifest(model, 4, { version: `1.0.${i}` });
    const pack = await buildPack(manifest, { "model.onnx": model }, vendor.privateKey);
    let t = performance.now();
    const up = await fetch(`${hub.url()}/api/hub/models/upload`, {
      method: "PUT",
      headers: { authorization: `Bearer ${hub.adminToken()}` },
      body: pack,
    });
    if (up.status !== 201) throw new Error(`pack upload: ${up.status} ${await up.text()}`);
    packMs.push(performance.now() - t);
    const blob = randomBytes(pack.length);
    t = performance.now();
    const put = await fetch(`${hub.url()}/api/hub/blobs/${sha256(blob)}`, {
      method: "PUT",
      headers: { authorization: basic, "x-blob-size": String(blob.length), "upload-offset": "0" },
      body: blob,
    });
    if (put.status !== 201 && put.status !== 200) throw new Error(`blob upload: ${put.status}`);
    blobMs.push(performance.now() - t);
  }
  note(`${rounds} rounds of a ${mb} MiB signed pack vs as many random bytes as a blob, one hub on PGlite`);
  metric("hub_pack_upload_ms", median(packMs), 0);
  metric("hub_blob_upload_ms", median(blobMs), 0);
  metric("hub_pack_verify_ratio", median(packMs) / median(blobMs));
  await hub.stop();
  removeDir(hub.dir);
  removeDir(tmp);
  done();
}

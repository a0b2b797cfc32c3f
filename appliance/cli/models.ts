/**
 * `nexus models list|install|remove|pin|sign`: the AI service's model registry on the box itself, through the
 * service's own functions on its database and blob store (works with or without a running appliance; a running
 * service loads a replaced model's new files on its next request).
 */
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import aiService from "../../services/ai/index.js";
import { installPack, listModels, pinModel, removeModel } from "../../services/ai/models.js";
import { signPackFile } from "../../services/ai/sign-pack.js";
import { registryStore } from "../../services/ai/state.js";
import { openServiceOffline } from "../kit/index.js";
import { keyId } from "../lib/ed25519.js";
import { bytes, progressBar, table } from "../lib/format.js";

function open(dataDir: string, site: string) {
  const ctx = openServiceOffline(aiService, { dataDir, site, log: pino({ level: "silent" }) });
  return { ctx, reg: registryStore(ctx) };
}

/** Prints the installed models (or JSON). */
export function modelsList(dataDir: string, site: string, json: boolean): void {
  const { ctx } = open(dataDir, site);
  try {
    const models = listModels(ctx);
    if (json) return void console.log(JSON.stringify(models, null, 2));
    const rows = models.map((m) => [
      m.name,
      m.version,
      m.task,
      m.runtime,
      m.license,
      bytes(m.size),
      [m.builtin ? "built-in" : "", m.pinned ? "pinned" : "", m.signer ? `signed ${m.signer}` : ""]
        .filter(Boolean)
        .join(", "),
    ]);
    console.log(table(["NAME", "VERSION", "TASK", "RUNTIME", "LICENCE", "SIZE", ""], rows));
  } finally {
    ctx.db.close();
  }
}

/** Installs a pack file, with progress on stderr. */
export async function modelsInstall(dataDir: string, site: string, file: string): Promise<void> {
  const { ctx, reg } = open(dataDir, site);
  try {
    await reg.store.init();
    let shown = -1;
    const m = await installPack(ctx, reg, file, {
      onProgress: (done, total) => {
        const mib = Math.floor(done / 1048576);
        if (mib === shown || !process.stderr.isTTY) return;
        shown = mib;
        process.stderr.write(`\r${progressBar(mib, Math.ceil(total / 1048576), "MiB verified")}`);
      },
    });
    if (process.stderr.isTTY) process.stderr.write("\n");
    console.log(`Installed ${m.name} ${m.version} (${m.task}, ${m.runtime}, licence ${m.license}).`);
  } finally {
    ctx.db.close();
  }
}

/** Removes a model. */
export async function modelsRemove(dataDir: string, site: string, name: string): Promise<void> {
  const { ctx, reg } = open(dataDir, site);
  try {
    await removeModel(ctx, reg, name);
    console.log(`Removed ${name}.`);
  } finally {
    ctx.db.close();
  }
}

/** Pins or unpins a model. */
export function modelsPin(dataDir: string, site: string, name: string, pinned: boolean): void {
  const { ctx } = open(dataDir, site);
  try {
    pinModel(ctx, name, pinned);
    console.log(`${name} ${pinned ? "pinned" : "unpinned"}.`);
  } finally {
    ctx.db.close();
  }
}

/** Signs a pack file with an ed25519 private key (PEM), writing `out` (default: the pack itself). */
export async function modelsSign(pack: string, keyFile: string, out?: string): Promise<void> {
  const key = createPrivateKey(readFileSync(keyFile, "utf8"));
  await signPackFile(pack, out ?? pack, key);
  console.log(`Signed ${out ?? pack} with key ${keyId(key)}.`);
}

/**
 * The appliance role's model packs (`appliance_model_packs`, tasks/models.yml) run for real by ansible-playbook on
 * this machine against a box's data dir, with the real `nexus models install` (the CLI from source): a signed
 * pack the test builds is copied and installed; run again → nothing changes; a new pack under the same file
 * name → installed again (its new version listed).
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { buildPack, sha256Of } from "../../services/ai/pack.js";
import { ansibleTool, collectionsPath } from "../helpers/ansible.js";
import { ROOT, removeDir, TSX, tempDir } from "../helpers/appliance.js";
import { addManifest, addModel } from "../helpers/onnx.js";

const dir = tempDir();
const data = join(dir, "data");
const collections = collectionsPath();
afterAll(() => {
  removeDir(dir);
  removeDir(collections);
});

const key = generateKeyPairSync("ed25519");
const nexus = join(dir, "nexus");
const packFile = join(dir, "packs", "tiny-add.tar");

async function writePack(version: string) {
  const model = addModel(3);
  const manifest = addManifest(model, 3, {
    name: "tiny-add",
    version,
    license: "MIT",
    files: { "model.onnx": sha256Of(model) },
  });
  writeFileSync(packFile, await buildPack(manifest, { "model.onnx": model }, key.privateKey));
}

function setup() {
  mkdirSync(join(data, "services", "ai", "trusted-keys"), { recursive: true });
  mkdirSync(join(dir, "packs"));
  writeFileSync(
    join(data, "services", "ai", "trusted-keys", "vendor.pem"),
    key.publicKey.export({ type: "spki", format: "pem" }),
  );
  // The installed `nexus` program, from source; built-in packs left out (this checks the role, not them).
  writeFileSync(
    nexus,
    `#!/bin/sh\nNEXUS_AI_BUILTIN_PACKS=false exec "${process.execPath}" --import "${TSX}" "${join(ROOT, "appliance/cli/main.ts")}" "$@"\n`,
  );
  chmodSync(nexus, 0o755);
  const play = [
    {
      hosts: "localhost",
      connection: "local",
      gather_facts: false,
      tasks: [
        {
          name: "Install the model packs",
          "ansible.builtin.include_role": { name: "nexus.edge.appliance", tasks_from: "models.yml" },
          vars: {
            appliance_data_dir: data,
            appliance_nexus: nexus,
            appliance_prefix: dir,
            appliance_model_packs: [packFile],
          },
        },
      ],
    },
  ];
  writeFileSync(join(dir, "play.yml"), JSON.stringify(play));
}

async function converge() {
  const r = await ansibleTool(
    "ansible-playbook",
    ["-i", "localhost,", "-e", "ansible_python_interpreter=/usr/bin/python3", join(dir, "play.yml")],
    { ANSIBLE_COLLECTIONS_PATH: collections, ANSIBLE_LOCAL_TEMP: join(dir, "ansible-tmp") },
    120_000,
  );
  const recap = r.stdout.match(/localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/);
  expect(recap, `${r.stdout}\n${r.stderr}`.slice(-4000)).not.toBeNull();
  const [, , changed, failed] = (recap as RegExpMatchArray).map(Number);
  expect(failed, r.stdout.slice(-4000)).toBe(0);
  return changed as number;
}

async function installed() {
  const { stdout } = await promisify(execFile)(nexus, ["--data-dir", data, "models", "list", "--json"]);
  return (JSON.parse(stdout) as { name: string; version: string }[]).find((m) => m.name === "tiny-add");
}

describe("appliance role: model packs", () => {
  it("installs a pack, skips it when unchanged, installs it again when its bytes change", async () => {
    setup();
    await writePack("1.0.0");
    expect(await converge()).toBeGreaterThan(0);
    expect(await installed()).toMatchObject({ version: "1.0.0" });
    const marker = readFileSync(join(data, "model-packs", "tiny-add.tar.installed"), "utf8").trim();
    expect(marker).toBe(sha256Of(readFileSync(packFile)));
    expect(await converge()).toBe(0);
    await writePack("1.1.0");
    expect(await converge()).toBeGreaterThan(0);
    expect(await installed()).toMatchObject({ version: "1.1.0" });
  }, 120_000);
});

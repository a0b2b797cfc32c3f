/** Hardware profiles: every shipped profile passes both the zod schema and the JSON Schema; detection on fixture trees. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { type CommandRunner, chooseProfile, detectProfile } from "../../appliance/profiles/detect.js";
import { profileJsonSchema } from "../../appliance/profiles/json-schema.js";
import { listProfiles, loadProfile, profilesDir } from "../../appliance/profiles/load.js";
import { ROOT } from "../helpers/appliance.js";

const FIXTURES = join(ROOT, "test/fixtures/hardware");
const SHIPPED = ["generic-x86_64", "jetson-orin", "raspberry-pi-5", "small-box", "x86_64-nvidia"];

/** A scripted runner: `uname -m` answers `arch`, nvidia-smi lists `gpus` (missing when undefined). */
function runner(arch: string, gpus?: string[]): CommandRunner {
  return async (cmd) => {
    if (cmd === "uname") return { code: 0, stdout: `${arch}\n` };
    if (cmd === "nvidia-smi") return gpus ? { code: 0, stdout: gpus.join("\n") } : null;
    return null;
  };
}

describe("hardware profiles", () => {
  it("ships the five profiles, each valid for zod and for the JSON Schema", () => {
    expect(listProfiles()).toEqual(SHIPPED);
    const jsonSchema = JSON.parse(readFileSync(join(profilesDir(), "profile.schema.json"), "utf8"));
    const validate = new Ajv2020({ strict: false }).compile(jsonSchema);
    for (const name of SHIPPED) {
      expect(loadProfile(name).name).toBe(name);
      const raw = JSON.parse(readFileSync(join(profilesDir(), name, "profile.json"), "utf8"));
      expect(validate(raw), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    expect(validate({ ...loadProfile("small-box"), isolation: "threads" })).toBe(false);
    expect(validate({ ...loadProfile("small-box"), extra: 1 })).toBe(false);
  });

  it("keeps profile.schema.json in step with the zod schema", () => {
    const file = JSON.parse(readFileSync(join(profilesDir(), "profile.schema.json"), "utf8"));
    expect(file).toEqual(JSON.parse(profileJsonSchema()));
  });

  it.each([
    ["pi5", runner("aarch64"), "raspberry-pi-5", /Raspberry Pi 5/],
    ["jetson", runner("aarch64", ["Orin (nvgpu)"]), "jetson-orin", /Jetson/],
    ["nvidia-x86", runner("x86_64", ["NVIDIA L4"]), "x86_64-nvidia", /nvidia-smi lists NVIDIA L4/],
    ["small-x86", runner("x86_64"), "small-box", /1943 MB memory, 2 core/],
    ["big-x86", runner("x86_64"), "generic-x86_64", /15918 MB memory, 8 core/],
    ["big-x86", runner("x86_64", []), "generic-x86_64", /no NVIDIA GPU/],
  ])("detects fixture %s (runner %#) and says why", async (tree, run, profile, why) => {
    const d = await detectProfile(join(FIXTURES, tree), run);
    expect(d.profile).toBe(profile);
    expect(d.reasons.join("\n")).toMatch(why);
    expect(() => loadProfile(d.profile)).not.toThrow();
  });

  it("treats a missing tree and an unknown arm64 board sensibly", () => {
    const none = { model: null, nvidiaGpus: [], memoryMb: null, cores: null };
    expect(chooseProfile({ ...none, arch: "x86_64" }).profile).toBe("generic-x86_64");
    expect(chooseProfile({ ...none, arch: "aarch64", model: "Rockchip RK3588" }).reasons.join()).toMatch(
      /without a profile of its own/,
    );
  });

  it("detects the real machine it runs on (x86-64 without a GPU here)", async () => {
    const d = await detectProfile();
    expect(SHIPPED).toContain(d.profile);
    expect(d.facts.cores).toBeGreaterThan(0);
  });
});

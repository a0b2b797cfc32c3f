import { describe, expect, it } from "vitest";
import { applianceConfigSchema } from "../../appliance/config/schema.js";
import { dataPaths } from "../../appliance/paths.js";
import { hostEnv, serviceSettings } from "../../appliance/supervisor/host-env.js";

describe("host environment", () => {
  const outer = {
    PATH: "/usr/bin",
    LD_LIBRARY_PATH: "/opt/nexus/1.0.0/lib/gpu",
    NEXUS_IDENTITY_LOCKOUT_THRESHOLD: "3",
    NEXUS_SYSTEM_FOO: "bar",
    NEXUS_INTERNAL_TOKEN: "forged",
    NEXUS_NATS_PASS: "forged",
    NEXUS_HOST_SERVICES: "evil:1",
    NEXUS_HOST_PERMISSIONS: JSON.stringify({ "evil:all": { description: "forged", roles: ["viewer"] } }),
    NEXUS_GATEWAY_BODY_LIMIT_BYTES: "1",
    NEXUS_DATA_DIR: "/elsewhere",
    SECRET_OF_THE_SHELL: "x",
  };

  it("passes service settings only", () => {
    expect(serviceSettings(outer)).toEqual({
      NEXUS_IDENTITY_LOCKOUT_THRESHOLD: "3",
      NEXUS_SYSTEM_FOO: "bar",
    });
  });

  it("never lets the outer environment override what the supervisor sets", () => {
    const env = hostEnv({
      paths: dataPaths("/data"),
      config: applianceConfigSchema.parse({ dataDir: "/data" }),
      nats: { url: "nats://127.0.0.1:4222", user: "nexus", pass: "real" },
      internalToken: "real-token",
      permissions: { "system:read": { description: "read", roles: ["viewer"] } },
      env: outer,
    });
    expect(env).toMatchObject({
      NEXUS_INTERNAL_TOKEN: "real-token",
      NEXUS_NATS_PASS: "real",
      NEXUS_DATA_DIR: "/data",
      NEXUS_IDENTITY_LOCKOUT_THRESHOLD: "3",
      PATH: "/usr/bin",
      LD_LIBRARY_PATH: "/opt/nexus/1.0.0/lib/gpu", // the bundle's GPU libraries reach the AI service
    });
    expect(env.NEXUS_HOST_SERVICES).toBeUndefined();
    expect(JSON.parse(env.NEXUS_HOST_PERMISSIONS!)).toEqual({
      "system:read": { description: "read", roles: ["viewer"] },
    });
    expect(env.SECRET_OF_THE_SHELL).toBeUndefined();
  });
});

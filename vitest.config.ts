import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["appliance/**/*.test.ts", "services/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn real nats-server and service processes; on a 2-core box
    // running them all at once makes timings meaningless.
    fileParallelism: false,
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest.json" },
  },
});

// Test layout (docs/architecture.md, "Tests"): test/unit pure TS, test/native the CPU engine through the addon, test/golden against
// ../shared/golden (skipped when absent), test/pack.test.ts the npm tarball. Native tests share one addon, so
// files run in forked processes (one engine per file) and keep to two workers on the 2-core CI machine.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});

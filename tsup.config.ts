// Build of the TypeScript layer: ESM + CJS + .d.ts for the library (dist/index.*) and the CLI (dist/cli.js, ESM;
// its `#!/usr/bin/env node` line comes from src/cli.ts, which esbuild keeps). One config so `clean` cannot race.
// The native addon is not bundled: src/native.ts finds prebuilds/ (or build/Release) from the package root.
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", cli: "src/cli.ts" },
  format: ["esm", "cjs"],
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  target: "node20",
  platform: "node",
  shims: true,
  // The service's optional dependencies are imported only by `ditto serve` / `ditto worker` (src/serve/optional.ts).
  external: ["fastify", "bullmq", "ioredis"],
});

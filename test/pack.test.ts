// The npm tarball: `npm pack` (with its scripts: prepack strips `prepare` from the packed package.json, postpack puts
// it back, and npm then runs no `prepare`, so packing never rebuilds dist/ under other tests), install it into an
// empty project, then `require` and `import` of ditto-dit both load the prebuilt addon and run a tiny forward on
// the vendored/fixture model — with no compiler step (no build/ dir appears in the installed package) and no
// install-time script in the published package.json (issue 22: npm 11 warned about `prepare` at every install).
// Needs the registry (or npm's cache) for the runtime dependencies; skipped when the prebuild or dist is missing.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { GLYPHS, HAS_GLYPHS, REPO_ROOT } from "./shared-paths.js";

const PREBUILD = path.join(REPO_ROOT, "prebuilds", `${process.platform}-${process.arch}`, "ditto-dit.napi.node");
const READY = existsSync(PREBUILD) && existsSync(path.join(REPO_ROOT, "dist/index.js"));
const VENDORED = path.join(REPO_ROOT, "examples/models/glyphs");
const MODEL_DIR = existsSync(path.join(VENDORED, "dit.safetensors")) ? VENDORED : GLYPHS;
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

describe.skipIf(!READY || !(HAS_GLYPHS || MODEL_DIR === VENDORED))("npm pack + install", () => {
  const work = mkdtempSync(path.join(tmpdir(), "ditto-pack-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("installs from the tarball and loads from ESM and CJS without building", () => {
    const repoManifest = readFileSync(path.join(REPO_ROOT, "package.json"), "utf8");
    expect(JSON.parse(repoManifest).scripts.prepare).toBe("npm run build"); // `npm install` in the repo still builds
    const packed = execFileSync(NPM, ["pack", "--json", "--pack-destination", work], { cwd: REPO_ROOT, encoding: "utf8" });
    expect(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).toBe(repoManifest); // postpack restored it
    expect(existsSync(path.join(REPO_ROOT, "package.json.prepack-backup"))).toBe(false);
    const [{ filename, files }] = JSON.parse(packed.slice(packed.indexOf("["))) as [{ filename: string; files: { path: string }[] }];
    const listed = files.map((f) => f.path);
    expect(listed).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/cli.js", `prebuilds/${process.platform}-${process.arch}/ditto-dit.napi.node`]));
    expect(listed.some((p) => p.startsWith("src/") || p.startsWith("native/") || p.startsWith("build/"))).toBe(false);

    const project = path.join(work, "app");
    execFileSync("mkdir", ["-p", project]);
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
    execFileSync(NPM, ["install", "--no-audit", "--no-fund", "--prefer-offline", "--omit=peer", path.join(work, filename)], {
      cwd: project, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 240_000,
    });
    const installed = path.join(project, "node_modules/ditto-dit");
    expect(existsSync(installed)).toBe(true);
    const scripts = Object.keys(JSON.parse(readFileSync(path.join(installed, "package.json"), "utf8")).scripts ?? {});
    expect(scripts.filter((name) => ["preinstall", "install", "postinstall", "prepare"].includes(name))).toEqual([]);
    expect(readdirSync(installed)).not.toContain("build");

    const probe = (kind: "cjs" | "esm") => {
      const body = `
        const x = ditto.Tensor.from(new Float32Array(2 * 3 * 32 * 32).fill(0.25), [2, 3, 32, 32]);
        const model = await ditto.loadModel(${JSON.stringify(MODEL_DIR)}, { threads: 1 });
        const v = await model.forward(x, [500, 20], [3, 10]);
        model.dispose();
        console.log(JSON.stringify({ shape: v.shape, finite: v.toFloat32Array().every(Number.isFinite), isa: ditto.info().isa }));`;
      const source = kind === "cjs"
        ? `const ditto = require("ditto-dit"); (async () => { ${body} })();`
        : `import * as ditto from "ditto-dit"; ${body}`;
      const file = path.join(project, kind === "cjs" ? "probe.cjs" : "probe.mjs");
      writeFileSync(file, source);
      return JSON.parse(execFileSync(process.execPath, [file], { cwd: project, encoding: "utf8", timeout: 60_000 }).trim());
    };
    for (const kind of ["cjs", "esm"] as const) {
      expect(probe(kind)).toMatchObject({ shape: [2, 3, 32, 32], finite: true });
    }
    const cli = execFileSync(process.execPath, [path.join(installed, "dist/cli.js"), "info", "--json"], { cwd: project, encoding: "utf8" });
    expect(JSON.parse(cli.trim().split("\n").pop()!).version).toBeDefined();
    expect(readdirSync(installed)).not.toContain("build");
  }, 300_000);
});

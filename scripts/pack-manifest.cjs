// npm pack / publish hooks (package.json "prepack" / "postpack"): the published package.json must not carry the
// `prepare` script. In the repository `prepare` builds the addon and dist/ on `npm install` / `npm ci`; in the
// tarball it is dead weight that npm 11 reports as an install script at every install (issue 22). `strip` saves
// package.json to package.json.prepack-backup and writes it back without scripts.prepare; `restore` puts the saved
// file back. Both replace package.json by an atomic rename, so anything reading it meanwhile sees a whole file, and
// a pack that died between the two is repaired by the next `strip`. npm packs after prepack without running
// `prepare` (it reads the stripped file), so `npm publish` builds through "prepublishOnly" instead.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const manifest = path.join(root, "package.json");
const backup = path.join(root, "package.json.prepack-backup");

function writeAtomically(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function restore() {
  if (fs.existsSync(backup)) fs.renameSync(backup, manifest);
}

function strip() {
  restore(); // an interrupted pack left the stripped file: start from the original
  const text = fs.readFileSync(manifest, "utf8");
  const pkg = JSON.parse(text);
  for (const file of ["dist/index.js", "dist/cli.js", `prebuilds/${process.platform}-${process.arch}/ditto-dit.napi.node`]) {
    if (!fs.existsSync(path.join(root, file))) {
      console.error(`pack-manifest: ${file} is missing; run \`npm run build\` before packing`);
      process.exit(1);
    }
  }
  if (!pkg.scripts || pkg.scripts.prepare === undefined) return;
  fs.copyFileSync(manifest, backup);
  delete pkg.scripts.prepare;
  writeAtomically(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
}

const command = process.argv[2];
if (command === "strip") strip();
else if (command === "restore") restore();
else {
  console.error("usage: node scripts/pack-manifest.cjs strip|restore");
  process.exit(64);
}

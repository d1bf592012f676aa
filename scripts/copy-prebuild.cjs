#!/usr/bin/env node
// Copies the cmake-js output (build/Release/ditto.node, or the file given as argv[2]) to
// prebuilds/<platform>-<arch>/ditto-dit.napi.node — the node-gyp-build layout — so the npm tarball carries a
// prebuild and installs without a compiler (prebuildify only drives node-gyp, hence this small script).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const source = path.resolve(root, process.argv[2] || "build/Release/ditto.node");
if (!fs.existsSync(source)) {
  console.error(`copy-prebuild: ${path.relative(root, source)} not found; run cmake-js compile first`);
  process.exit(1);
}
const targetDir = path.join(root, "prebuilds", `${process.platform}-${process.arch}`);
fs.mkdirSync(targetDir, { recursive: true });
const target = path.join(targetDir, "ditto-dit.napi.node");
fs.copyFileSync(source, target);
console.log(`copy-prebuild: ${path.relative(root, source)} -> ${path.relative(root, target)}`);

#!/usr/bin/env node
// The chart of docs/caching.md: PSNR against the uncached images vs MACs reduction, one series per policy and the
// fewer-steps control as a line, from the rows examples/bench-cache.mjs --out wrote. Drawn as a Vega-Lite spec,
// compiled and rendered to SVG by Vega (headless, no canvas), rasterised by sharp.
//
//   node examples/cache-chart.mjs --in rows.json --out docs/caching.png [--title "…"]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { arg, repoRoot } from "./bench/common.mjs";

const require = createRequire(`${repoRoot}/package.json`);
const vega = require("vega");
const vegaLite = require("vega-lite");
const sharp = require("sharp");

const input = JSON.parse(readFileSync(arg("in", "rows.json"), "utf8"));
const out = arg("out", "docs/caching.png");
const points = input.rows
  .filter((r) => r.psnr !== null)
  .map((r) => ({
    family: r.kind === "control" ? "fewer steps (control)" : r.name.split(":")[0],
    setting: r.name.replace(/,?profile=[^,]*/, ""),
    macs: r.macsReduction,
    psnr: r.psnr,
  }));
const spec = {
  $schema: "https://vega.github.io/schema/vega-lite/v5.json",
  title: arg("title", `PSNR vs the uncached images (N = ${input.n}, seeds ${input.seedBase}…${input.seedBase + input.n - 1})`),
  width: 640,
  height: 400,
  background: "white",
  data: { values: points },
  encoding: {
    x: { field: "macs", type: "quantitative", title: "MACs reduction (×)", scale: { zero: false } },
    y: { field: "psnr", type: "quantitative", title: "PSNR (dB)", scale: { zero: false } },
    color: { field: "family", type: "nominal", title: "policy", legend: { labelLimit: 300 } },
  },
  layer: [
    { mark: { type: "line", strokeDash: [6, 4] }, transform: [{ filter: "datum.family === 'fewer steps (control)'" }] },
    { mark: { type: "point", filled: true, size: 80 }, encoding: { shape: { field: "family", type: "nominal", legend: null } } },
  ],
};
const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
const svg = await view.toSVG(2);
await sharp(Buffer.from(svg)).png().toFile(out);
process.stdout.write(`${out}\n`);

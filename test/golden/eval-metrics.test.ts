// The glyph fixture's metrics self-check (README "The metrics"): the 1,000 eval-real images against real-stats give
// FD = 0.07929 and ACC = 1.0 (to 1e-3); the classifier's features match reference-io on images 0…7.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { readSafetensors } from "../../src/io/safetensors.js";
import { Classifier, accuracy, featureStats, frechetDistance } from "../../src/metrics/index.js";
import { loadRealStats } from "../../src/eval/fixture.js";

const FIXTURE = new URL("../../../shared/fixtures/glyphs/", import.meta.url).pathname;

describe.skipIf(!existsSync(FIXTURE))("glyph metrics self-check", () => {
  it("eval-real vs real-stats: FD 0.07929, ACC 1.0; features match reference-io", async () => {
    const real = readSafetensors(`${FIXTURE}eval-real.safetensors`);
    const images = real.tensors.get("images")!;
    const [count, height, width, channels] = images.shape as [number, number, number, number];
    const labels = Array.from(real.tensors.get("labels")!.data as BigInt64Array, Number);
    const classifier = await Classifier.load(`${FIXTURE}classifier.onnx`, { threads: 2 });
    const out = await classifier.classify(images.data as Uint8Array, count, height, width, channels);
    await classifier.dispose();
    const fd = frechetDistance(featureStats(out.features, count, out.featureDim), loadRealStats(FIXTURE));
    expect(Math.abs(fd - 0.07929)).toBeLessThan(1e-3);
    expect(accuracy(out.logits, out.numClasses, labels)).toBe(1);

    const io = readSafetensors(`${FIXTURE}reference-io.safetensors`);
    const refFeatures = io.tensors.get("clf.features_eval_real_0_8")!.data as Float32Array;
    const refLogits = io.tensors.get("clf.logits_eval_real_0_8")!.data as Float32Array;
    for (let i = 0; i < refFeatures.length; i++) expect(Math.abs(out.features[i]! - refFeatures[i]!)).toBeLessThan(1e-4);
    for (let i = 0; i < refLogits.length; i++) expect(Math.abs(out.logits[i]! - refLogits[i]!)).toBeLessThan(1e-4);
  });
});

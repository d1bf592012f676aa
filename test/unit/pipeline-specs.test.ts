// --cache / --guidance SPEC parsing: known policies become plain objects (and round-trip through formatSpec), unknown
// names, parameters and malformed values are clear errors; protocol labels of the eval harness.
import { describe, expect, it } from "vitest";

import { formatSpec, parseCacheSpec, parseGuidanceSpec } from "../../src/eval/specs.js";
import { protocolLabels } from "../../src/eval/harness.js";

describe("policy SPEC strings", () => {
  it("parses known policies into objects", () => {
    expect(parseCacheSpec("firstBlock:threshold=0.08")).toEqual({ kind: "firstBlock", threshold: 0.08 });
    expect(parseCacheSpec("firstBlock:threshold=0.1,warmupSteps=4,maxCachedSteps=3"))
      .toEqual({ kind: "firstBlock", threshold: 0.1, warmupSteps: 4, maxCachedSteps: 3 });
    expect(parseCacheSpec("fora")).toEqual({ kind: "fora" });
    expect(parseGuidanceSpec("skipLayers:layers=4+5,scale=1.8,cfgScale=2,start=0,stop=0.8"))
      .toEqual({ kind: "skipLayers", layers: [4, 5], scale: 1.8, cfgScale: 2, start: 0, stop: 0.8 });
  });

  it("round-trips through formatSpec", () => {
    for (const spec of ["firstBlock:threshold=0.08,warmupSteps=4", "taylorSeer:interval=3,order=2", "none"]) {
      expect(formatSpec(parseCacheSpec(spec))).toBe(spec);
    }
    expect(formatSpec(parseGuidanceSpec("slg:layers=3+4,scale=2.5"))).toBe("slg:layers=3+4,scale=2.5");
  });

  it("rejects unknown names and parameters with the known ones listed", () => {
    expect(() => parseCacheSpec("fancy:x=1")).toThrow(/^Unknown cache policy "fancy": expected one of none, firstBlock, /);
    expect(() => parseCacheSpec("firstBlock:treshold=0.1"))
      .toThrow('Unknown parameter "treshold" for cache policy firstBlock: expected one of threshold, warmupSteps, maxCachedSteps');
    expect(() => parseGuidanceSpec("autoguide")).toThrow(/^Unknown guidance policy "autoguide"/);
  });

  it("rejects malformed values", () => {
    expect(() => parseCacheSpec("firstBlock:threshold=abc")).toThrow('Expected a number for cache policy firstBlock.threshold but received "abc"');
    expect(() => parseCacheSpec("fora:interval=2.5")).toThrow('Expected an integer for cache policy fora.interval but received "2.5"');
    expect(() => parseCacheSpec("firstBlock:threshold")).toThrow('Expected key=value for cache policy firstBlock but received "threshold"');
    expect(() => parseCacheSpec("firstBlock:threshold=1,threshold=2")).toThrow('Parameter "threshold" given twice');
    expect(() => parseGuidanceSpec("pag:layers=1+x")).toThrow("Expected non-negative integers joined by '+'");
    expect(() => parseCacheSpec("")).toThrow("Expected a cache SPEC like name:key=value");
  });
});

describe("protocol labels", () => {
  it("gives sample k the label floor(k·classes/N)", () => {
    const labels = protocolLabels(30, 10);
    expect([...labels]).toEqual(Array.from({ length: 30 }, (_, k) => Math.floor(k / 3)));
    expect(protocolLabels(1000, 10)[999]).toBe(9);
    expect(protocolLabels(1000, 10)[100]).toBe(1);
  });
});

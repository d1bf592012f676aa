// --cache / --guidance SPEC parsing (src/policySpec.ts with the tables in src/cache/specs.ts and
// src/guidance/specs.ts): known policies become plain objects (and round-trip through formatSpec), unknown names,
// parameters and malformed values are clear errors; the policy objects (CachePolicy, guiderFrom) round-trip
// through toJSON and refuse what the engine does not run yet; protocol labels of the eval harness.
import { describe, expect, it } from "vitest";

import { CachePolicy } from "../../src/cache/policy.js";
import { parseCacheSpec } from "../../src/cache/specs.js";
import { ClassifierFreeGuidance } from "../../src/guidance/cfg.js";
import { guiderFrom } from "../../src/guidance/policy.js";
import { parseGuidanceSpec } from "../../src/guidance/specs.js";
import { formatSpec } from "../../src/policySpec.js";
import { protocolLabels } from "../../src/eval/harness.js";

describe("policy SPEC strings", () => {
  it("parses known policies into objects", () => {
    expect(parseCacheSpec("firstBlock:threshold=0.08")).toEqual({ kind: "firstBlock", threshold: 0.08 });
    expect(parseCacheSpec("firstBlock:threshold=0.1,warmupSteps=4,maxCachedSteps=3"))
      .toEqual({ kind: "firstBlock", threshold: 0.1, warmupSteps: 4, maxCachedSteps: 3 });
    expect(parseCacheSpec("fora")).toEqual({ kind: "fora" });
    expect(parseGuidanceSpec("skipLayers:layers=4+5,scale=1.8,cfgScale=2,sigmaLo=0,sigmaHi=0.8"))
      .toEqual({ kind: "skipLayers", layers: [4, 5], scale: 1.8, cfgScale: 2, sigmaLo: 0, sigmaHi: 0.8 });
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

describe("cache policy objects", () => {
  it("none round-trips through toJSON, JSON text and its SPEC, and is one frozen object", () => {
    const none = CachePolicy.none();
    expect(none.toJSON()).toEqual({ kind: "none" });
    expect(String(none)).toBe("none");
    expect(CachePolicy.from(none.toJSON())).toBe(none);
    expect(CachePolicy.from(JSON.parse(JSON.stringify(none)))).toBe(none);
    expect(CachePolicy.from("none")).toBe(none);
    expect(Object.isFrozen(none)).toBe(true);
  });

  it("checks parameters and names", () => {
    expect(() => CachePolicy.from("firstBlock:threshold=-1")).toThrow(new RangeError("Expected number >= 0 for cache.threshold but received -1"));
    expect(() => CachePolicy.from({ kind: "fora", interval: 0 })).toThrow(new RangeError("Expected integer >= 1 for cache.interval but received 0"));
    expect(() => CachePolicy.taylorSeer({ order: 2 })).toThrow(new RangeError("Expected integer between 0 and 1 for cache.order but received 2"));
    expect(() => CachePolicy.magCache({})).toThrow(new RangeError("Expected a ratio curve (ratios=… or profile=FILE from ditto calibrate) for cache.profile but received undefined"));
    expect(() => CachePolicy.from("magCache:retainRatio=2,ratios=1+0.9")).toThrow(new RangeError("Expected number between 0 and 1 for cache.retainRatio but received 2"));
    expect(() => CachePolicy.from("teaCache:profile=/nonexistent/profile.json")).toThrow(/^Cannot read cache profile \/nonexistent\/profile.json/);
    expect(() => CachePolicy.from({ kind: "fora", intervall: 2 })).toThrow(new RangeError('Unknown parameter "intervall" for cache policy fora: expected one of interval, warmupSteps'));
    expect(() => CachePolicy.from({ kind: "fora", interval: 2.5 })).toThrow(new RangeError("Expected an integer for cache policy fora.interval but received 2.5"));
    expect(() => CachePolicy.from({ kind: "deltaDit", blocks: [1, -1] })).toThrow(new RangeError("Expected a non-empty array of non-negative integers for cache policy deltaDit.blocks but received [1,-1]"));
    expect(() => CachePolicy.from({ kind: "none", threshold: 1 })).toThrow(new RangeError('Unknown parameter "threshold" for cache policy none: expected no parameters'));
    expect(() => CachePolicy.from({ kind: "magic" })).toThrow(/^Unknown cache policy "magic": expected one of none, firstBlock, dbCache, /);
    expect(() => CachePolicy.from(3 as never)).toThrow(new TypeError("Expected CachePolicy, SPEC string or { kind, …params } object for cache but received 3"));
    expect(() => CachePolicy.from({ threshold: 1 } as never)).toThrow(new TypeError("Expected a cache policy object { kind, …params } for cache but received object"));
  });
});

describe("guidance policy objects", () => {
  it("cfg round-trips through toJSON, JSON text and its SPEC", () => {
    const cfg = new ClassifierFreeGuidance({ scale: 4 });
    expect(cfg.toJSON()).toEqual({ kind: "cfg", scale: 4 });
    expect(formatSpec(cfg.toJSON())).toBe("cfg:scale=4");
    for (const again of [guiderFrom(cfg.toJSON()), guiderFrom(JSON.parse(JSON.stringify(cfg))), guiderFrom("cfg:scale=4")]) {
      expect(again).toBeInstanceOf(ClassifierFreeGuidance);
      expect(again.toJSON()).toEqual(cfg.toJSON());
    }
    expect(guiderFrom(cfg)).toBe(cfg);
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it("refuses unknown methods and bad parameters with exact messages (every known method builds)", () => {
    expect(guiderFrom("skipLayers:layers=4,scale=1.8").toJSON()).toEqual({ kind: "autoguidance", alpha: 0, layers: [4], scale: 1.8, cfgScale: 1 });
    expect(guiderFrom({ kind: "pag", layers: [2], scale: 3 }).kind).toBe("pag");
    expect(() => guiderFrom({ kind: "cfg", scael: 2 })).toThrow(new RangeError('Unknown parameter "scael" for guidance policy cfg: expected one of scale'));
    expect(() => guiderFrom("cfg")).toThrow(new TypeError("Expected finite number for guidance policy cfg.scale but received undefined"));
    expect(() => guiderFrom({ kind: "cfg", scale: "4" } as never)).toThrow(new RangeError('Expected a number for guidance policy cfg.scale but received "4"'));
    expect(() => guiderFrom("autoguide:scale=2")).toThrow(/^Unknown guidance policy "autoguide": expected one of cfg, auto, autoguidance, skipLayers, /);
    expect(() => new ClassifierFreeGuidance({ scale: Number.NaN })).toThrow(new TypeError("Expected finite number for cfg.scale but received NaN"));
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

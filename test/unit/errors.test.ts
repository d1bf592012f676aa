// DittoError naming/codes and the "Expected <what> for <name> but received <value>" argument messages.
import { describe, expect, it } from "vitest";

import { DittoError, abortError, describeValue, isDittoError, shapeError, typeError, withCallerStack } from "../../src/errors.js";
import { toDittoError } from "../../src/native.js";

describe("DittoError", () => {
  it("carries a code and is named DittoError, or AbortError for aborts", () => {
    const e = new DittoError("ERR_MODEL_LOAD", "bad file");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("DittoError");
    expect(e.code).toBe("ERR_MODEL_LOAD");
    const a = abortError();
    expect(a.name).toBe("AbortError");
    expect(a.code).toBe("ERR_ABORTED");
    expect(isDittoError(a, "ERR_ABORTED")).toBe(true);
    expect(isDittoError(a, "ERR_CUDA")).toBe(false);
  });

  it("maps native errors with an ERR_* code and leaves others alone", () => {
    const native = Object.assign(new Error("engine said no"), { code: "ERR_INVALID_ARGUMENT" });
    const mapped = toDittoError(native) as DittoError;
    expect(mapped).toBeInstanceOf(DittoError);
    expect(mapped.code).toBe("ERR_INVALID_ARGUMENT");
    expect(mapped.message).toBe("engine said no");
    const other = Object.assign(new Error("x"), { code: "ENOENT" });
    expect(toDittoError(other)).toBe(other);
    const type = new TypeError("t");
    expect(toDittoError(type)).toBe(type);
  });

  it("grafts the caller's stack onto an error", () => {
    const site = new Error("site");
    const e = withCallerStack(new DittoError("ERR_ABORTED", "stopped"), site.stack);
    expect(e.stack!.split("\n")[0]).toBe("AbortError: stopped");
    expect(e.stack).toContain("errors.test.ts");
  });
});

describe("argument messages", () => {
  it("describes received values", () => {
    expect(describeValue([1, 2, 3])).toBe("number[]");
    expect(describeValue(new Float64Array(2))).toBe("Float64Array");
    expect(describeValue("abc")).toBe('"abc"');
    expect(describeValue(2)).toBe("2");
    expect(describeValue(null)).toBe("null");
    expect(describeValue({})).toBe("object");
    expect(describeValue(new Map())).toBe("an instance of Map");
  });

  it("formats type and shape errors", () => {
    expect(typeError("Float32Array", "data", [1, 2]).message).toBe("Expected Float32Array for data but received number[]");
    const s = shapeError("shape with 4 dimensions [B, C, H, W]", "x", [3, 32, 32]);
    expect(s).toBeInstanceOf(RangeError);
    expect(s.message).toBe("Expected shape with 4 dimensions [B, C, H, W] for x but received [3, 32, 32]");
  });
});

// Brands: how Ditto recognises its own objects across copies of the package (issue 22, defect 7). `require`
// (dist/index.cjs) and `import` (dist/index.js) of ditto-dit are two module instances with two Tensor classes —
// the dual-package hazard — so a plain `instanceof` rejects a Tensor made by the other copy. Each public class
// carries a brand under a registry symbol (Symbol.for is one symbol for every copy in the process) and answers
// `instanceof` by that brand, so Ditto's own checks and its users' recognise objects from either copy. Both
// copies load the same native addon (Node loads a .node file once per environment), so their native handles
// interoperate; cross-copy code must therefore use public members only, never another copy's #private fields.
const BRAND = Symbol.for("ditto-dit.brand");

export type Brand = "Tensor" | "Model" | "DittoError" | "Image" | "Vae";

/** Whether `value` was made by a Ditto class with this brand, from any copy of the package. */
export function hasBrand(value: unknown, brand: Brand): boolean {
  return typeof value === "object" && value !== null && (value as { [BRAND]?: unknown })[BRAND] === brand;
}

/** Brands `cls` and makes `x instanceof cls` true for any object with its brand (subclasses keep plain instanceof). */
export function brandClass(cls: { prototype: object }, brand: Brand): void {
  Object.defineProperty(cls.prototype, BRAND, { value: brand });
  Object.defineProperty(cls, Symbol.hasInstance, {
    value(this: unknown, value: unknown): boolean {
      return this === cls ? hasBrand(value, brand) : Function.prototype[Symbol.hasInstance].call(this, value);
    },
  });
}

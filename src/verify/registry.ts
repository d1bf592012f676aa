// Registry of verify families. Built-in families register themselves from src/verify/families/*.ts (imported by
// families/index.ts); another module adds a family with registerVerifyFamily() and an extra producer of outputs
// for an existing family (e.g. the DiT DDIM trajectory) with registerOutputExtension(), without editing the runner.
import type { VerifyContext, VerifyFamily, VerifyOutputResult } from "./types.js";

const families: VerifyFamily[] = [];

/** Families are tried in registration order; `first` puts a more specific family ahead of the built-ins. */
export function registerVerifyFamily(family: VerifyFamily, options: { first?: boolean } = {}): void {
  const existing = families.findIndex((f) => f.name === family.name);
  if (existing >= 0) families.splice(existing, 1);
  if (options.first) families.unshift(family);
  else families.push(family);
}

export function verifyFamilies(): readonly VerifyFamily[] {
  return families;
}

/**
 * Produces and compares outputs a family cannot make itself. `names` says which of the case's outputs it
 * handles; `run` returns their comparisons (use compare.ts). `state` is what the family offers (e.g. the loaded
 * model and the io tensors) — see the family's docs.
 */
export interface OutputExtension<State = unknown> {
  name: string;
  handles(outputName: string, context: VerifyContext): boolean;
  run(names: string[], context: VerifyContext, state: State): Promise<Record<string, VerifyOutputResult>>;
}

const extensions = new Map<string, OutputExtension<any>[]>();

export function registerOutputExtension<State>(familyName: string, extension: OutputExtension<State>): void {
  const list = extensions.get(familyName) ?? [];
  const existing = list.findIndex((e) => e.name === extension.name);
  if (existing >= 0) list.splice(existing, 1);
  list.push(extension);
  extensions.set(familyName, list);
}

export function outputExtensions(familyName: string): readonly OutputExtension<any>[] {
  return extensions.get(familyName) ?? [];
}

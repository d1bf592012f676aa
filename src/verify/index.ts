// `ditto verify` as a library: verifyCase(dir) checks one case folder, verifyAll(dir) every case folder in a
// directory. Results follow contracts.md ({"case","pass","outputs":{…},"skipped":[…]}; unsupported families give
// {"case","pass":false,"error":"unsupported: <family>"}).
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

import "./families/index.js";
import { readJsonIfExists } from "./case.js";
import { detectUnsupportedFamily } from "./families/unsupported.js";
import { verifyFamilies } from "./registry.js";
import type { VerifyCaseResult, VerifyOptions } from "./types.js";

export { registerVerifyFamily, registerOutputExtension, verifyFamilies } from "./registry.js";
export type { OutputExtension } from "./registry.js";
export { compareArrays, toleranceFor, defaultTolerance } from "./compare.js";
export { compareWithReference, readIo, ioTensor, outputNames, findWeights } from "./case.js";
export type { VerifyCaseResult, VerifyOutputResult, VerifyFamily, VerifyContext, VerifyOptions, FamilyRunResult } from "./types.js";
export type { DitVerifyState } from "./families/dit.js";

export function isUnsupported(result: VerifyCaseResult): boolean {
  return typeof result.error === "string" && result.error.startsWith("unsupported:");
}

export async function verifyCase(dir: string, options: VerifyOptions = {}): Promise<VerifyCaseResult> {
  const caseName = path.basename(path.resolve(dir));
  try {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      return { case: caseName, pass: false, error: `not a case folder: ${dir}` };
    }
    const config = readJsonIfExists(path.join(dir, "config.json"));
    const family = verifyFamilies().find((f) => f.detect(dir, config));
    if (!family) {
      return { case: caseName, pass: false, error: `unsupported: ${detectUnsupportedFamily(dir, config) ?? "unknown"}` };
    }
    const { outputs, skipped } = await family.run({ dir, caseName, config, options });
    const checked = Object.values(outputs);
    const pass = checked.length > 0 && checked.every((o) => o.pass);
    return { case: caseName, pass, outputs, skipped, family: family.name };
  } catch (e) {
    const error = e as Error & { code?: string };
    return { case: caseName, pass: false, error: `${error.code ? `${error.code}: ` : ""}${error.message}` };
  }
}

/** Case folders of `dir`: its sub-folders holding config.json, io.safetensors or index.json, sorted by name. */
export function caseFolders(dir: string): string[] {
  return readdirSync(dir)
    .map((name) => path.join(dir, name))
    .filter((p) => statSync(p).isDirectory() && ["config.json", "io.safetensors", "index.json"].some((f) => existsSync(path.join(p, f))))
    .sort();
}

export interface VerifyAllSummary {
  summary: true;
  cases: number;
  passed: string[];
  failed: string[];
  unsupported: string[];
  pass: boolean;
}

export async function verifyAll(
  dir: string,
  options: VerifyOptions = {},
  onCase?: (result: VerifyCaseResult) => void,
): Promise<{ results: VerifyCaseResult[]; summary: VerifyAllSummary }> {
  const results: VerifyCaseResult[] = [];
  for (const folder of caseFolders(dir)) {
    const result = await verifyCase(folder, options);
    results.push(result);
    onCase?.(result);
  }
  const passed = results.filter((r) => r.pass).map((r) => r.case);
  const unsupported = results.filter(isUnsupported).map((r) => r.case);
  const failed = results.filter((r) => !r.pass && !isUnsupported(r)).map((r) => r.case);
  return { results, summary: { summary: true, cases: results.length, passed, failed, unsupported, pass: failed.length === 0 && passed.length > 0 } };
}

// Paths to the reference data beside the repo (../shared). Tests that need it use describe.skipIf(!HAS_...).
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const SHARED = path.resolve(REPO_ROOT, "../shared");
export const GOLDEN = path.join(SHARED, "golden");
export const GLYPHS = path.join(SHARED, "fixtures/glyphs");
export const HAS_GOLDEN = existsSync(path.join(GOLDEN, "dit-official/config.json"));
export const HAS_GLYPHS = existsSync(path.join(GLYPHS, "dit.safetensors")) && existsSync(path.join(GLYPHS, "reference-io.safetensors"));

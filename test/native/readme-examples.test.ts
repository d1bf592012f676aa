// The README's code must run on every Node that package.json's engines allows (issue 22, defect 9: its `await using`
// example was a SyntaxError on Node 20). JavaScript blocks must not use `using` declarations (Node 20 cannot parse
// them, even where a newer Node running this test could), must parse on this Node, and the README's API example
// runs as is against the built package; `using` is only shown in blocks fenced as TypeScript.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { afterAll, describe, expect, it } from "vitest";

import { REPO_ROOT } from "../shared-paths.js";

const DOCS = ["README.md", "docs/pipeline.md", "docs/schedulers.md"];
const USING_DECLARATION = /(^|[;{}\s])(await\s+)?using\s+[A-Za-z_$][\w$]*\s*=/m;

function codeBlocks(file: string): { lang: string; code: string }[] {
  const text = readFileSync(path.join(REPO_ROOT, file), "utf8");
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, code: m[2]! }));
}

describe("README and docs code", () => {
  const work = mkdtempSync(path.join(tmpdir(), "ditto-readme-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const engines = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).engines.node;

  it("engines still says Node >= 20 (what these checks assume)", () => {
    expect(engines).toBe(">=20");
  });

  it.each(DOCS)("%s: `using` declarations only in TypeScript blocks; JavaScript blocks parse on this Node", (file) => {
    for (const [k, block] of codeBlocks(file).entries()) {
      if (USING_DECLARATION.test(block.code)) expect({ file, k, lang: block.lang }).toEqual({ file, k, lang: "ts" });
      if (block.lang === "js") {
        const script = path.join(work, `${path.basename(file, ".md")}-${k}.mjs`);
        writeFileSync(script, block.code);
        execFileSync(process.execPath, ["--check", script], { encoding: "utf8" });
      }
    }
  });

  it("the README's API example is JavaScript that runs against the built package", () => {
    const examples = codeBlocks("README.md").filter((b) => b.lang === "js" && b.code.includes("loadModel("));
    expect(examples).toHaveLength(1);
    const script = path.join(work, "readme-api.mjs");
    const dist = pathToFileURL(path.join(REPO_ROOT, "dist/index.js")).href;
    writeFileSync(script, `${examples[0]!.code.replace(/from "ditto-dit"/g, `from ${JSON.stringify(dist)}`)}\nconsole.log("ran");\n`);
    expect(execFileSync(process.execPath, [script], { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000 }).trim()).toBe("ran");
  });
});

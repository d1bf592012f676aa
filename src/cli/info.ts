// `ditto info`: version, kernel ISA in use, CPU features, default threads (`--json` for one JSON line).
import { info } from "../info.js";
import { parseArgs } from "./args.js";

export async function runInfo(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["json"]);
  const i = info();
  if (args.options.has("json")) {
    console.log(JSON.stringify(i));
    return 0;
  }
  const features = Object.entries(i.features).filter(([, on]) => on).map(([name]) => name);
  console.log(`ditto-dit ${i.version} (N-API ${i.napiVersion}, Node ${i.node}, ${i.platform})`);
  console.log(`CPU:      ${i.cpu || "unknown"}`);
  console.log(`ISA:      ${i.isa} (supported: ${i.supportedIsas.join(", ")}; cap with DITTO_ISA)`);
  console.log(`Features: ${features.join(" ") || "none"}`);
  console.log(`Threads:  ${i.threads} (override with loadModel({ threads }) or DITTO_NUM_THREADS)`);
  return 0;
}

// `ditto info`: version, build (addon, N-API), kernel ISA in use, CPU features, default threads and the devices the
// engine can see (`--json` for one JSON line).
import { info } from "../info.js";
import { native } from "../native.js";
import { parseArgs, rejectPositionals, rejectUnknownOptions } from "./args.js";

const INFO_USAGE = "Usage: ditto info [--json]";

function devices(): string {
  try {
    return native().describeDevices().trim();
  } catch (e) {
    return `unavailable (${(e as Error).message})`;
  }
}

export async function runInfo(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ["json", "help"]);
  if (args.options.has("help")) {
    console.log(INFO_USAGE);
    return 0;
  }
  rejectUnknownOptions(args, ["json"], INFO_USAGE);
  rejectPositionals(args, INFO_USAGE);
  const i = info();
  const deviceText = devices();
  const addon = process.env.DITTO_ADDON_PATH ? `${process.env.DITTO_ADDON_PATH} (DITTO_ADDON_PATH)` : "prebuilds/ or build/Release (node-gyp-build)";
  if (args.options.has("json")) {
    console.log(JSON.stringify({ ...i, build: { addon, napiVersion: i.napiVersion }, devices: deviceText }));
    return 0;
  }
  const features = Object.entries(i.features).filter(([, on]) => on).map(([name]) => name);
  console.log(`ditto-dit ${i.version} (N-API ${i.napiVersion}, Node ${i.node}, ${i.platform})`);
  console.log(`Build:    addon from ${addon}`);
  console.log(`CPU:      ${i.cpu || "unknown"}`);
  console.log(`ISA:      ${i.isa} (supported: ${i.supportedIsas.join(", ")}; cap with DITTO_ISA)`);
  console.log(`Features: ${features.join(" ") || "none"}`);
  console.log(`Threads:  ${i.threads} (override with loadModel({ threads }) or DITTO_NUM_THREADS)`);
  console.log(`Devices:  ${deviceText.split("\n").join("\n          ")}`);
  return 0;
}

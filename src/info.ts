// Facts about this build and machine, for `ditto info` and bug reports: package version, the kernel ISA in use
// (after DITTO_ISA), CPU features, default thread count.
import { callNative, native, packageVersion } from "./native.js";

export interface DittoInfo {
  version: string;
  isa: string;
  supportedIsas: string[];
  cpu: string;
  features: Record<string, boolean>;
  threads: number;
  napiVersion: number;
  node: string;
  platform: string;
}

export function info(): DittoInfo {
  const n = callNative(() => native().info());
  return {
    version: packageVersion(),
    isa: n.isa,
    supportedIsas: n.supportedIsas,
    cpu: n.cpu,
    features: n.features,
    threads: n.defaultThreads,
    napiVersion: n.napiVersion,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
  };
}

// Types of `ditto verify`: a case folder (shared/golden layout: config.json + io.safetensors + weights, or a
// family-specific layout such as schedulers/index.json) is checked by the first registered family whose detect()
// claims it. Results follow contracts.md exactly.

/** One compared tensor: pass iff |a − b| ≤ atol + rtol·|b| for every element. */
export interface VerifyOutputResult {
  maxAbsErr: number | null;
  /** max |a − b| / (atol + rtol·|b|); ≤ 1 means pass. */
  worstRatio: number | null;
  atol: number;
  rtol: number;
  pass: boolean;
  /** Set when the comparison could not be made (shape mismatch, non-finite values). */
  error?: string;
}

export interface VerifyCaseResult {
  case: string;
  pass: boolean;
  outputs?: Record<string, VerifyOutputResult>;
  skipped?: string[];
  error?: string;
  /** Which family checked the case (e.g. "dit-official"). Informational. */
  family?: string;
}

/** What a family's run() hands back; the runner turns it into a VerifyCaseResult. */
export interface FamilyRunResult {
  outputs: Record<string, VerifyOutputResult>;
  skipped: string[];
}

export interface VerifyOptions {
  threads?: number;
  dtype?: "f32" | "bf16";
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface VerifyContext {
  dir: string;
  caseName: string;
  /** Parsed config.json of the case, when present. */
  config: Record<string, any> | undefined;
  options: VerifyOptions;
}

export interface VerifyFamily {
  name: string;
  /** Cheap: look at the config and file/tensor names only. */
  detect(dir: string, config: Record<string, any> | undefined): boolean;
  run(context: VerifyContext): Promise<FamilyRunResult>;
}

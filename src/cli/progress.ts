// A progress bar on stderr for long CLI work (cli-progress; drawn only when stderr is a terminal, otherwise silent so
// logs and `--json` consumers stay clean).
import cliProgress from "cli-progress";

export interface Progress {
  start(total: number, label: string): void;
  update(value: number): void;
  stop(): void;
}

export function createProgress(): Progress {
  if (!process.stderr.isTTY) return { start() {}, update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: "{label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}", hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  return {
    start(total, label) {
      if (running) bar.stop();
      bar.start(total, 0, { label });
      running = true;
    },
    update(value) {
      if (running) bar.update(value);
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

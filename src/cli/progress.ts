// Progress for long CLI work, on stderr (stdout stays clean for `--json`): a cli-progress bar on a terminal; in logs
// (stderr not a TTY) a plain line at most every 10 s and at the end of each phase.
import cliProgress from "cli-progress";

export interface Progress {
  start(total: number, label: string): void;
  update(value: number): void;
  stop(): void;
}

const LOG_INTERVAL_MS = 10_000;

function logProgress(): Progress {
  let label = "", total = 0, value = 0, last = 0, started = 0, running = false;
  const line = () => {
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(`${label.trim()}: ${value}/${total} (${total ? Math.floor((100 * value) / total) : 100}%) ${seconds.toFixed(0)} s\n`);
  };
  return {
    start(t, l) {
      if (running) line();
      label = l; total = t; value = 0; started = last = performance.now(); running = true;
    },
    update(v) {
      value = v;
      if (running && performance.now() - last >= LOG_INTERVAL_MS) { last = performance.now(); line(); }
    },
    stop() {
      if (running) line();
      running = false;
    },
  };
}

export function createProgress(): Progress {
  if (!process.stderr.isTTY) return logProgress();
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

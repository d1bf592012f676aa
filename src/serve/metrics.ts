// The service's counters and their Prometheus text exposition (format 0.0.4,
// https://prometheus.io/docs/instrumenting/exposition_formats/): queue depth, jobs by outcome, images and images/s,
// MACs run and saved by the cache, HTTP answers by status, and event-loop lag from perf_hooks.monitorEventLoopDelay.
// No client library: the handful of series below is all the service exports (docs/serving.md, "Metrics").
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

import type { GenerateStats } from "../pipeline/pipeline.js";

export type JobOutcome = "completed" | "failed" | "cancelled" | "rejected";

/** images/s is averaged over this trailing window (or the uptime, when shorter). */
const RATE_WINDOW_MS = 60_000;
/** Sampling interval of the event-loop delay histogram; it records whole intervals, so lag = sample − this. */
const LAG_RESOLUTION_MS = 10;

export class ServiceMetrics {
  readonly #started = performance.now();
  readonly #jobs: Record<JobOutcome, number> = { completed: 0, failed: 0, cancelled: 0, rejected: 0 };
  readonly #http = new Map<number, number>();
  /** Finish times and image counts of recent jobs, for images/s. */
  #recent: { at: number; images: number }[] = [];
  #images = 0;
  #macs = 0;
  #macsUncached = 0;
  readonly #lag: IntervalHistogram;

  constructor() {
    this.#lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    this.#lag.enable();
  }

  jobFinished(outcome: JobOutcome, images = 0, stats?: Pick<GenerateStats, "macs" | "macsUncached">): void {
    this.#jobs[outcome]++;
    if (outcome !== "completed") return;
    const now = performance.now();
    this.#images += images;
    this.#recent.push({ at: now, images });
    this.#recent = this.#recent.filter((r) => now - r.at <= RATE_WINDOW_MS);
    if (stats) {
      this.#macs += stats.macs;
      this.#macsUncached += stats.macsUncached;
    }
  }

  httpAnswered(statusCode: number): void {
    this.#http.set(statusCode, (this.#http.get(statusCode) ?? 0) + 1);
  }

  get jobs(): Readonly<Record<JobOutcome, number>> {
    return this.#jobs;
  }

  /** Images per second over the trailing window. */
  imagesPerSecond(now = performance.now()): number {
    const window = Math.min(RATE_WINDOW_MS, now - this.#started);
    const images = this.#recent.filter((r) => now - r.at <= RATE_WINDOW_MS).reduce((sum, r) => sum + r.images, 0);
    return window > 0 ? (1000 * images) / window : 0;
  }

  /**
   * The exposition text. `queue` is read from the backend at scrape time. Event-loop lag quantiles cover the time
   * since the previous scrape (the histogram is reset after each one).
   */
  render(queue: { waiting: number; running: number }): string {
    const lines: string[] = [];
    const series = (name: string, type: "gauge" | "counter", help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 0}`);
    };
    series("ditto_queue_depth", "gauge", "Generation jobs waiting to run.", [["", queue.waiting]]);
    series("ditto_jobs_running", "gauge", "Generation jobs running now.", [["", queue.running]]);
    series("ditto_jobs_total", "counter", "Generation jobs by outcome (rejected = refused with 429).",
      Object.entries(this.#jobs).map(([outcome, n]) => [`{outcome="${outcome}"}`, n]));
    series("ditto_images_total", "counter", "Images generated.", [["", this.#images]]);
    series("ditto_images_per_second", "gauge", "Images generated per second over the last 60 s.", [["", this.imagesPerSecond()]]);
    series("ditto_macs_total", "counter", "Multiply-accumulates the engine ran.", [["", this.#macs]]);
    series("ditto_macs_saved_total", "counter", "Multiply-accumulates the block cache saved (macsUncached - macs).", [["", this.#macsUncached - this.#macs]]);
    series("ditto_http_responses_total", "counter", "HTTP responses by status code.",
      [...this.#http.entries()].sort(([a], [b]) => a - b).map(([code, n]) => [`{code="${code}"}`, n]));
    const seconds = (ns: number) => Math.max(0, ns / 1e9 - LAG_RESOLUTION_MS / 1000);
    const lag = this.#lag.count > 0
      ? [["{quantile=\"0.5\"}", seconds(this.#lag.percentile(50))], ["{quantile=\"0.99\"}", seconds(this.#lag.percentile(99))], ["{quantile=\"1\"}", seconds(this.#lag.max)]] as [string, number][]
      : [];
    series("ditto_event_loop_lag_seconds", "gauge", "Event-loop delay since the previous scrape (perf_hooks.monitorEventLoopDelay, 10 ms resolution).", lag);
    this.#lag.reset();
    return `${lines.join("\n")}\n`;
  }

  close(): void {
    this.#lag.disable();
  }
}

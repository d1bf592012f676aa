// The service's small pure parts: the missing-optional-dependency message, Retry-After, how a BullMQ failure
// reason becomes the error the HTTP layer maps (400 for the request's fault), and the metrics exposition.
import { describe, expect, it } from "vitest";

import { retryAfterSeconds } from "../../src/serve/backend.js";
import { ServiceMetrics } from "../../src/serve/metrics.js";
import { loadOptional, MissingDependencyError } from "../../src/serve/optional.js";
import { jobError } from "../../src/serve/redisQueue.js";

describe("service parts", () => {
  it("names the command and the install line when an optional dependency is missing", async () => {
    const error = await loadOptional("ditto-no-such-package", "ditto serve", () => import("ditto-no-such-package" as string)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(MissingDependencyError);
    expect((error as Error).message).toBe("ditto serve needs the optional dependency ditto-no-such-package; install it with: npm install ditto-no-such-package");
    // Other failures of the import are not disguised as a missing package.
    await expect(loadOptional("x", "ditto serve", () => Promise.reject(new SyntaxError("broken")))).rejects.toThrow(SyntaxError);
  });

  it("Retry-After: the jobs ahead spread over the runners at the mean job time, at least 1 s", () => {
    expect(retryAfterSeconds(0, 1, 0.2)).toBe(1);
    expect(retryAfterSeconds(7, 1, 0.5)).toBe(4);
    expect(retryAfterSeconds(7, 4, 3)).toBe(6);
    expect(retryAfterSeconds(3, 0, 2)).toBe(8);
  });

  it("keeps the error class of a worker's failure reason", () => {
    expect(jobError("RangeError: Expected integer between 1 and 10000 for steps but received 0")).toEqual(new RangeError("Expected integer between 1 and 10000 for steps but received 0"));
    expect(jobError("TypeError: Expected x")).toBeInstanceOf(TypeError);
    const aborted = jobError("AbortError: The operation was aborted");
    expect([aborted.name, (aborted as Error & { code?: string }).code, aborted.message]).toEqual(["AbortError", "ERR_ABORTED", "The operation was aborted"]);
    const other = jobError("ERR_NUMERICS: step 3");
    expect([other.constructor, other.message]).toEqual([Error, "ERR_NUMERICS: step 3"]);
    expect(jobError(undefined).message).toBe("the job failed");
  });

  it("renders Prometheus text: gauges, counters by outcome and code, MACs saved", () => {
    const metrics = new ServiceMetrics();
    try {
      metrics.jobFinished("completed", 3, { macs: 600, macsUncached: 1000 });
      metrics.jobFinished("rejected");
      metrics.httpAnswered(200);
      metrics.httpAnswered(429);
      metrics.httpAnswered(200);
      const text = metrics.render({ waiting: 2, running: 1 });
      expect(text).toContain("# TYPE ditto_queue_depth gauge\nditto_queue_depth 2\n");
      expect(text).toContain("ditto_jobs_running 1\n");
      expect(text).toContain('ditto_jobs_total{outcome="completed"} 1\nditto_jobs_total{outcome="failed"} 0\nditto_jobs_total{outcome="cancelled"} 0\nditto_jobs_total{outcome="rejected"} 1\n');
      expect(text).toContain("ditto_images_total 3\n");
      expect(text).toContain("ditto_macs_total 600\n# HELP ditto_macs_saved_total");
      expect(text).toContain("ditto_macs_saved_total 400\n");
      expect(text).toContain('ditto_http_responses_total{code="200"} 2\nditto_http_responses_total{code="429"} 1\n');
      expect(metrics.imagesPerSecond()).toBeGreaterThan(0);
      // Every sample line is `name{labels} number`.
      for (const line of text.split("\n").filter((l) => l && !l.startsWith("#"))) expect(line).toMatch(/^[a-z_]+(\{[a-z]+="[^"]*"\})? -?[\d.e+-]+$/);
    } finally {
      metrics.close();
    }
  });
});

// A generation request as JSON (docs/serving.md): the body of `POST /v1/generate` and the data of a BullMQ job.
// It is the TS API's GenerateOptions restricted to the keys JSON can carry; the values are checked by the API's own
// checkGenerateOptions (src/pipeline/options.ts), so a bad request fails with exactly the message generate() gives.
// This file adds only what JSON brings: a body that is not an object, and keys the API has no JSON form for.
import { typeError } from "../errors.js";
import { checkGenerateOptions, type GenerateOptions } from "../pipeline/options.js";
import { resolveScheduler } from "../pipeline/scheduler.js";

/** GenerateOptions keys a JSON request may set (initImage / mask need tensors or images; onStep / signal are code). */
export const REQUEST_KEYS = ["classLabels", "steps", "seed", "guidanceScale", "noise", "scheduler", "cache", "guidance"] as const;

export type GenerateRequest = Pick<GenerateOptions, (typeof REQUEST_KEYS)[number]>;

/** What checkGenerateOptions needs to know about the model: its class count and recommended settings. */
export interface RequestDefaults {
  steps: number;
  guidanceScale: number;
  numClasses: number;
}

/**
 * Checks a parsed JSON body and returns it as generate options. Throws TypeError / RangeError (a 400 on the
 * service, a failed job without retries on a worker) with the API's messages.
 */
export function parseGenerateRequest(body: unknown, defaults: RequestDefaults, maxImages = Infinity): GenerateRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw typeError("JSON object of generate options", "body", body);
  for (const key of Object.keys(body)) {
    if (!(REQUEST_KEYS as readonly string[]).includes(key)) {
      throw new RangeError(`Expected one of ${REQUEST_KEYS.join(", ")} for a request key but received ${JSON.stringify(key)}`);
    }
  }
  const request = body as GenerateRequest;
  checkGenerateOptions(request, defaults);
  // generate() resolves the scheduler after the checks above; JSON can only name one, so resolving it here is the check.
  resolveScheduler(request.scheduler);
  // A service bounds the work one request may ask for (`--max-batch`); the API itself has no such limit.
  if (request.classLabels.length > maxImages) {
    throw new RangeError(`Expected at most ${maxImages} labels (the service's --max-batch) for classLabels but received ${request.classLabels.length}`);
  }
  return request;
}


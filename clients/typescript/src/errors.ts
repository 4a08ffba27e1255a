// Errors: every non-2xx answer of the service is an RFC 9457 problem document
// (`application/problem+json`) with a stable `code`; it surfaces as a ChatHistoryError.

import type { components } from "./schema.js";

/** Every problem `code` the service answers with (docs/errors.md): switch on it. */
export type ProblemCode = components["schemas"]["ProblemCode"];

/** The problem document of an error answer. */
export type Problem = components["schemas"]["Problem"];

/** What a failed request answered, as a ChatHistoryError is built from it. */
export interface ErrorAnswer {
  /** The request's method and URL. */
  method: string;
  url: string;
  /** The answer: its status and headers (the body is read already). */
  response: Response;
  /** The parsed body: the problem document, or the text when it is not JSON. */
  body: unknown;
}

function isProblem(body: unknown): body is Problem {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as { code?: unknown }).code === "string" &&
    typeof (body as { status?: unknown }).status === "number"
  );
}

/** Seconds of a `Retry-After` header (delta-seconds or an HTTP date), or `null`. */
export function retryAfterSeconds(headers: Headers): number | null {
  const value = headers.get("retry-after");
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/**
 * A non-2xx answer of the service. `code` is the problem document's `code` (typed as the
 * `ProblemCode` enum of openapi.json); it is `undefined` only when the body was not a problem
 * document (an answer of a proxy in front of the service, for example).
 */
export class ChatHistoryError extends Error {
  override readonly name = "ChatHistoryError";
  /** The HTTP status. */
  readonly status: number;
  /** The problem `code`: switch on it (docs/errors.md). */
  readonly code: ProblemCode | undefined;
  /** What went wrong, for people (the problem's `detail`, else its `title` or the status text). */
  readonly detail: string;
  /** The offending field of a 422 (`title`, `messages[3].parent_id`, ...), as the client spelled it. */
  readonly field: string | undefined;
  /** The answer's `X-Request-Id` (quote it when reporting a problem). */
  readonly requestId: string | null;
  /** `Retry-After` in seconds (429 and 503), else `null`. */
  readonly retryAfter: number | null;
  /** The whole problem document, when the body was one. */
  readonly problem: Problem | undefined;
  /** The request, e.g. `PATCH http://127.0.0.1:8080/api/v1/threads/...`. */
  readonly request: string;

  constructor({ method, url, response, body }: ErrorAnswer) {
    const problem = isProblem(body) ? body : undefined;
    const detail =
      problem?.detail ??
      problem?.title ??
      (typeof body === "string" && body.length > 0 ? body.slice(0, 200) : response.statusText);
    const path = url.replace(/^[a-z]+:\/\/[^/]+/i, "");
    super(
      `${method} ${path} answered ${response.status}` +
        (problem ? ` (${problem.code}${problem.field ? ` in ${problem.field}` : ""}: ${detail})` : ""),
    );
    this.status = response.status;
    this.code = problem?.code;
    this.detail = detail;
    this.field = problem?.field;
    this.requestId = response.headers.get("x-request-id");
    this.retryAfter = retryAfterSeconds(response.headers);
    this.problem = problem;
    this.request = `${method} ${url}`;
  }
}

/**
 * Whether `error` is a ChatHistoryError (with this `code`, when one is given):
 * `if (isChatHistoryError(e, "thread_not_found")) notFound();`
 */
export function isChatHistoryError(error: unknown, code?: ProblemCode): error is ChatHistoryError {
  return error instanceof ChatHistoryError && (code === undefined || error.code === code);
}

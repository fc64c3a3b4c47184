import { parseRetryAfter } from '../backoff.js';
import type { Outcome } from '../outcome.js';
import { oneLine } from '../text.js';
import { type PostResponse, RequestRefused, RequestTimeout } from './safe-post.js';

/**
 * Svix's rules: 2xx is delivered; 408, 429 and 5xx are worth retrying (honouring Retry-After);
 * 410 means the endpoint is gone; every other status, 3xx included (redirects are never
 * followed, a webhook URL must be the final one), is a permanent failure.
 */
export function classifyResponse(response: PostResponse): Outcome {
  const { status } = response;
  const snippet = oneLine(response.body, 200);
  const error = `HTTP ${status}${snippet ? `: ${snippet}` : ''}`;
  if (status >= 200 && status < 300) return { result: 'delivered', status };
  if (status === 410) return { result: 'gone', error, status };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfter = response.headers['retry-after'];
    const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
    return retryAfterMs === undefined
      ? { result: 'retry', error, status }
      : { result: 'retry', error, status, retryAfterMs };
  }
  if (status >= 300 && status < 400) {
    return { result: 'failed', error: `HTTP ${status}: redirects are not followed`, status };
  }
  return { result: 'failed', error, status };
}

/** Network failures and timeouts are retried; a refused URL or address is not. */
export function classifyRequestError(err: unknown): Outcome {
  if (err instanceof RequestRefused) return { result: 'failed', error: `refused: ${err.message}` };
  if (err instanceof RequestTimeout) return { result: 'retry', error: `timeout: ${err.message}` };
  const e = err as { code?: string; message?: string };
  return {
    result: 'retry',
    error: oneLine(`${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`, 300),
  };
}

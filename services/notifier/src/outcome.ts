/**
 * What one delivery attempt came to. Channels never throw: they classify every failure, because
 * the classification decides between retrying, giving up, and (for `unknown`) not risking a
 * duplicate.
 */
export type Outcome =
  /** The receiver accepted it (2xx, SMTP 250, file written). */
  | { result: 'delivered'; status?: number; detail?: string }
  /** Not delivered, and trying again may help (network error, timeout, 5xx, 408, 429, SMTP 4xx). */
  | { result: 'retry'; error: string; status?: number; retryAfterMs?: number }
  /** Not delivered, and trying again will not help (4xx, SMTP 5xx, refused address, bad config). */
  | { result: 'failed'; error: string; status?: number }
  /** The endpoint is gone for good (HTTP 410): the channel is disabled. */
  | { result: 'gone'; error: string; status: number }
  /**
   * It may or may not have been delivered (the connection died after the message was handed
   * over). Resending risks a duplicate, so channels without receiver-side deduplication do not.
   */
  | { result: 'unknown'; error: string };

export type OutcomeResult = Outcome['result'];

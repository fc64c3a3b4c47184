import { classifyRequestError, classifyResponse } from '../http/classify.js';
import { safePost } from '../http/safe-post.js';
import type { Outcome } from '../outcome.js';

export interface HttpDeliveryOptions {
  timeoutMs: number;
  allowHttp: boolean;
  allowPrivate: boolean;
}

const USER_AGENT = 'Countersign-Notifier/1';

/** One POST attempt, classified. Shared by signed webhooks and Slack incoming webhooks. */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: HttpDeliveryOptions,
): Promise<Outcome> {
  try {
    const response = await safePost(url, body, {
      ...options,
      headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...headers },
    });
    return classifyResponse(response);
  } catch (err) {
    return classifyRequestError(err);
  }
}

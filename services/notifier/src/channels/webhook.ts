import type { WebhookBody } from '@countersign/contracts';
import { traceCarrier } from '@countersign/runtime';
import type { WebhookSettings } from '../channel-config.js';
import { webhookHeaders } from '../webhook-signature.js';
import { type HttpDeliveryOptions, postJson } from './http-delivery.js';
import type { Channel } from './types.js';

/** Standard Webhooks: the event as `{type, timestamp, data}`, signed, `webhook-id` = event id. */
export function createWebhookChannel(settings: WebhookSettings, http: HttpDeliveryOptions): Channel {
  return {
    name: settings.name,
    kind: 'webhook',
    settings,
    // Receivers deduplicate on webhook-id (the event id, the same on every attempt), which is
    // what makes retrying a timed-out or interrupted attempt safe.
    resendsUnknown: true,
    supersededByDecision: false,
    targets: () => [{ key: 'endpoint', detail: {} }],
    async send({ event }) {
      const payload: WebhookBody = { type: event.type, timestamp: event.occurred_at, data: event.data };
      const body = JSON.stringify(payload);
      // Signed per attempt: the timestamp is the attempt's, so receivers' replay windows hold.
      // `traceparent` (and `tracestate`) of the delivery's span when tracing is on: W3C trace
      // context, so the receiver's work joins the approval's trace. Not part of the signature.
      const headers = { ...webhookHeaders(settings.key.reveal(), event.id, body), ...traceCarrier() };
      return postJson(settings.url.reveal(), body, headers, http);
    },
  };
}

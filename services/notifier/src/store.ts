/**
 * Database access of the notifier: every statement it runs, by concern, under `store/`:
 * incoming events (`events.ts`), a delivery's attempts (`deliveries.ts`), dead letters for
 * operators (`dead-letters.ts`) and disabled channels (`channels.ts`).
 */

export { deadLetterDisabledChannels, enableChannel, listDisabledChannels } from './store/channels.js';
export {
  type AttemptView,
  channelCounts,
  type DeliveryView,
  discardDelivery,
  getDelivery,
  listDeliveries,
  replayDelivery,
} from './store/dead-letters.js';
export {
  type AttemptRecord,
  type ClaimedDelivery,
  type ClaimOptions,
  claimDue,
  type DeliveryStatus,
  type ExpiredClaim,
  finishAttempt,
  recoverExpiredClaims,
} from './store/deliveries.js';
export {
  type EventRecord,
  type NewDelivery,
  type RecordEventsOptions,
  recordEvents,
  recordInvalidEvent,
} from './store/events.js';

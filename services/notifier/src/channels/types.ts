import type { ApprovalEvent } from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import type { ChannelSettings } from '../channel-config.js';
import type { Outcome } from '../outcome.js';

export type ChannelKind = ChannelSettings['type'];

/** Who or what one delivery goes to; `key` is unique per channel and part of the delivery key. */
export interface Target {
  key: string;
  /** Stored with the delivery (JSON), so a retry sends to the same person. */
  detail: TargetDetail;
}

export interface TargetDetail {
  /** Email address. */
  email?: string;
  /** Approver identity a personal review link is minted for. */
  identity?: string;
  /** File name (markdown). */
  file?: string;
}

export interface SendContext {
  event: ApprovalEvent;
  target: Target;
  /** 1-based attempt number. */
  attempt: number;
  logger: Logger;
}

/** A configured destination: which targets an event has there, and how to send to one. */
export interface Channel {
  readonly name: string;
  readonly kind: ChannelKind;
  readonly settings: ChannelSettings;
  /**
   * Whether an attempt whose outcome is unknown (timeout after sending, process died mid-send)
   * may be repeated: true only when a repeat cannot be a visible duplicate, because the
   * receiver deduplicates (Standard Webhooks `webhook-id`) or the write is idempotent (a file).
   */
  readonly resendsUnknown: boolean;
  /** Whether a not-yet-sent pending notification is dropped once its approval is decided. */
  readonly supersededByDecision: boolean;
  /** The targets of an event on this channel (none: the channel has nothing to send). */
  targets(event: ApprovalEvent): Target[];
  /** One attempt; never throws. */
  send(ctx: SendContext): Promise<Outcome>;
}

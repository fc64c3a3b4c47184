import { type ApprovalEvent, encodeApprovalEvent, eventSubject } from '@countersign/contracts';
import { ensureStreams } from '@countersign/runtime';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';

/** Publishes events the way the approval service does: per-approval subject, Nats-Msg-Id = event id. */
export class EventPublisher {
  private constructor(private readonly js: JetStreamClient) {}

  static async create(nc: NatsConnection): Promise<EventPublisher> {
    await ensureStreams(await jetstreamManager(nc));
    return new EventPublisher(jetstream(nc));
  }

  async publish(event: ApprovalEvent): Promise<void> {
    const subject = eventSubject(event.type, event.data.action_id);
    await this.js.publish(subject, encodeApprovalEvent(event), { msgID: event.id });
  }

  /** Anything on a subject, to test that bad events do not stop the consumer. */
  async publishRaw(subject: string, payload: string): Promise<void> {
    await this.js.publish(subject, payload);
  }
}

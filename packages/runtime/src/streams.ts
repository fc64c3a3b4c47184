import { Streams, Subjects } from '@countersign/contracts';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';

export interface StreamOptions {
  /** Replicas per stream (3 in a clustered deployment). Default 1. */
  replicas?: number;
  /** How long events are kept, in seconds. Default 30 days. */
  eventsMaxAgeSeconds?: number;
  /** Intake de-duplication window on Nats-Msg-Id, in seconds. Default 10 minutes. */
  duplicateWindowSeconds?: number;
  /**
   * How long signed audit heads are kept, in seconds. Default 90 days. The approval service
   * republishes every chain's head at each checkpoint, far more often than this, so every
   * approval always has a head in the stream.
   */
  auditHeadsMaxAgeSeconds?: number;
}

const NANOS_PER_SECOND = 1_000_000_000;

/** The stream definitions of the contract; one place, used by services, tests and tools. */
export function streamConfigs(options: StreamOptions = {}): (Partial<StreamConfig> & { name: string })[] {
  const replicas = options.replicas ?? 1;
  return [
    {
      name: Streams.requests,
      // The bare intake subject (refused as identity_required) and every requester's own.
      subjects: [...Subjects.requestedAll],
      // Work queue: a request is removed once the approval service has committed and acked it.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      duplicate_window: (options.duplicateWindowSeconds ?? 600) * NANOS_PER_SECOND,
      num_replicas: replicas,
      max_msg_size: 1024 * 1024,
    },
    {
      name: Streams.events,
      subjects: [
        Subjects.pendingAll,
        Subjects.decidedAll,
        Subjects.reminderAll,
        Subjects.escalatedAll,
        Subjects.invalid,
      ],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: (options.eventsMaxAgeSeconds ?? 30 * 24 * 3600) * NANOS_PER_SECOND,
      duplicate_window: 120 * NANOS_PER_SECOND,
      num_replicas: replicas,
      allow_direct: true,
    },
    {
      // Outside PostgreSQL on purpose: whoever can rewrite the database cannot rewrite what was
      // published here (docs/security.md, "Tamper evidence").
      name: Streams.auditHeads,
      subjects: [Subjects.auditHeads],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: (options.auditHeadsMaxAgeSeconds ?? 90 * 24 * 3600) * NANOS_PER_SECOND,
      num_replicas: replicas,
      // A checkpoint part: up to 500 heads, signed (about 150 KiB).
      max_msg_size: 1024 * 1024,
    },
  ];
}

/** Creates the streams, or updates them to this configuration; safe to call from every replica. */
export async function ensureStreams(jsm: JetStreamManager, options: StreamOptions = {}): Promise<void> {
  for (const config of streamConfigs(options)) {
    try {
      await jsm.streams.info(config.name);
      await jsm.streams.update(config.name, config);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        try {
          await jsm.streams.add(config);
        } catch (addErr) {
          // Another replica created it between our info and add.
          if (!(addErr instanceof JetStreamApiError && addErr.status === 400)) throw addErr;
        }
      } else {
        throw err;
      }
    }
  }
}

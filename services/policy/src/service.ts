import { readFile } from 'node:fs/promises';
import { ServiceNames } from '@countersign/contracts';
import {
  type DirectoryHolder,
  type Logger,
  memoStop,
  StartupError,
  startService,
} from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Service } from '@nats-io/services';
import pkg from '../package.json' with { type: 'json' };
import { requireApproval } from './approved-bundle.js';
import { BUNDLE_OBJECT, followBucket, getBundle, openPolicyBucket, SHADOW_OBJECT } from './bucket.js';
import { buildBundle, readBundle, sourceRevision } from './bundle.js';
import { PolicyEngine } from './engine.js';
import { describeLoadError, PolicyLoadError } from './errors.js';
import { policyHandlers } from './handlers.js';
import { PolicyHolder } from './holder.js';
import { createPolicyMetrics, type PolicyMetrics, serveMetrics } from './metrics.js';
import { policyChangeHandlers } from './policy-change.js';
import { type PolicyDirectory, policyDirectory } from './roles.js';
import { type Watcher, watchPolicyDir } from './watch-dir.js';

export interface PolicyServiceOptions {
  /** Policy sources, built at start unless the bucket or `bundlePath` supplies a bundle. */
  dir: string;
  /** A prebuilt bundle to load instead of building `dir`. */
  bundlePath?: string | undefined;
  /**
   * Dev: rebuild and swap when the sources under `dir` change, and start from `dir` even when
   * the bucket holds a bundle (new puts still apply). Default false.
   */
  watch?: boolean;
  watchIntervalMs?: number;
  /** Object store bucket to load from and follow; undefined or empty: off. */
  bucket?: string | undefined;
  /** How long start-up waits for the bucket before using local sources. Default 5000 ms. */
  bucketTimeoutMs?: number;
  /** The opa binary used to build `dir`. */
  opaBin: string;
  /** Services-framework queue group; the framework default `q` when absent. */
  queue?: string;
  /**
   * The directory (DIRECTORY_FILE) whose roles the policy reads at `data.directory`; each
   * reload applies at once, whatever the policy's source. Absent: nobody is known, every
   * authorize refuses (`unknown_identity`) and nobody bypasses.
   */
  directory?: DirectoryHolder;
  /** Serve Prometheus `/metrics` on this port (0: any free port); absent: no HTTP server. */
  metricsPort?: number | undefined;
  /** The address the metrics server listens on. Default 0.0.0.0. */
  metricsHost?: string;
  /**
   * Load a bucket bundle only when the approval its object names is approved for its revision
   * (policy changes need approval). Default false.
   */
  requireApproval?: boolean;
  /** `opa`: also log every decision as an OPA decision-log event. Default `countersign`. */
  decisionLog?: 'countersign' | 'opa';
}

export interface PolicyService {
  holder: PolicyHolder;
  service: Service;
  metrics: PolicyMetrics;
  /** Where `/metrics` is served, when it is. */
  metricsUrl: string | undefined;
  /** Stops the endpoints, then the watchers; the caller drains the connection. Idempotent. */
  stop(): Promise<void>;
}

const loadBytes = (bytes: Uint8Array, directory: PolicyDirectory) =>
  PolicyEngine.load(readBundle(bytes), { directory });

/** The live bundle from the bucket: with `requireApproval`, only once its approval holds. */
async function loadLive(
  nc: NatsConnection,
  options: PolicyServiceOptions,
  bytes: Uint8Array,
  info: { metadata?: Record<string, string> | undefined },
  directory: PolicyDirectory,
  logger: Logger,
): Promise<PolicyEngine> {
  const bundle = readBundle(bytes);
  if (options.requireApproval) {
    const approval = await requireApproval(nc, info.metadata?.approval, bundle.revision);
    logger.info({ revision: bundle.revision, approval }, 'policy change approved: loading it');
  }
  return PolicyEngine.load(bundle, { directory });
}

/**
 * Starts the `policy` service on `nc`: loads the first policy (the bucket's bundle when there is
 * one and `watch` is off, else `bundlePath`, else a build of `dir`), serves `policy.evaluate`, `policy.authorize`,
 * `policy.info`, and the policy changes (`policy.propose.<identity>`, `policy.activate`), and follows the bucket (and `dir` with `watch`) to swap policies while
 * serving. Rejects when no valid policy can be loaded at start.
 */
export async function startPolicyService(
  nc: NatsConnection,
  options: PolicyServiceOptions,
  logger: Logger,
): Promise<PolicyService> {
  const holder = new PolicyHolder(
    logger,
    options.directory ? policyDirectory(options.directory.current()) : undefined,
  );
  let stopped = false;
  // Registered first: a directory edit during start-up is not lost. DirectoryHolder keeps its
  // listeners until it stops (with the process), so after our stop the listener does nothing.
  options.directory?.onChange((directory) => {
    if (!stopped) holder.useDirectory(policyDirectory(directory));
  });
  const bucket = options.bucket || undefined;
  const bucketSource = bucket ? `object-store ${bucket}/${BUNDLE_OBJECT}` : '';
  const dirSource = `directory ${options.dir}`;

  // 1. The bucket's bundle wins: in a deployment it is what ops rolled out last. Except in dev
  // (watch): there the files being edited are the truth, and a bundle left in the bucket by an
  // earlier publish must not shadow them; only puts made from now on apply.
  let seenNuid: string | undefined;
  if (bucket && !options.requireApproval) {
    logger.warn(
      { bucket },
      'POLICY_REQUIRE_APPROVAL=false: a bundle written to the bucket goes live without an approved policy change',
    );
  }
  if (bucket) {
    const found = await withTimeout(
      openPolicyBucket(nc, bucket).then(getBundle),
      options.bucketTimeoutMs ?? 5000,
    ).catch((err: unknown) => {
      logger.warn({ bucket, reason: describeLoadError(err).message }, 'policy bucket unavailable at start');
      return null;
    });
    if (found) {
      seenNuid = found.info.nuid;
      if (options.watch) {
        logger.info(
          { bucket, nuid: found.info.nuid },
          'watching sources: the bundle already in the bucket is not loaded',
        );
      } else {
        await holder.swap(bucketSource, (directory) =>
          loadLive(nc, options, found.bytes, found.info, directory, logger),
        );
      }
    }
  }
  // 2. Otherwise (or if that bundle was refused) the local bundle file or sources.
  if (holder.revision === null) {
    if (options.bundlePath) {
      const path = options.bundlePath;
      await holder.swap(`bundle ${path}`, async (directory) => loadBytes(await readFile(path), directory));
    } else {
      await holder.swap(dirSource, async (directory) =>
        loadBytes((await buildBundle(options)).bytes, directory),
      );
    }
  }
  if (holder.revision === null) {
    const failure = holder.status().last_error;
    // One line that names what could not be loaded and where (the variable to fix), the way
    // every service reports a dependency it cannot reach at start.
    const where = options.bundlePath
      ? { policy_bundle: options.bundlePath, variable: 'POLICY_BUNDLE' }
      : { policy_dir: options.dir, variable: 'POLICY_DIR' };
    throw new StartupError(
      `no valid policy to serve: ${failure ? `${failure.source} (${where.variable}): ${failure.message}` : 'nothing loaded'}`,
      { dependency: 'policy', ...where, reason: failure?.message ?? 'nothing loaded' },
      { cause: new PolicyLoadError('invalid_bundle', failure?.message ?? 'nothing loaded') },
    );
  }

  const metrics = createPolicyMetrics();
  const metricsServer =
    options.metricsPort === undefined
      ? undefined
      : await serveMetrics(metrics, options.metricsPort, options.metricsHost ?? '0.0.0.0', logger);
  const service = await startService(
    nc,
    {
      name: ServiceNames.policy,
      version: pkg.version,
      description: 'Countersign policy: Rego compiled to WASM, evaluated per approval request',
      ...(options.queue ? { queue: options.queue } : {}),
      statsHandler: async () => holder.status(),
    },
    {
      ...policyHandlers(holder, logger, { metrics, opaDecisionLog: options.decisionLog === 'opa' }),
      ...policyChangeHandlers({
        nc,
        bucket,
        holder,
        isPerson: (identity) => options.directory?.current().person(identity) !== undefined,
        logger: logger.child({ log: 'policy_change' }),
      }),
    },
    logger,
  );

  const watchers: Watcher[] = [];
  if (bucket) {
    // Shadow mode: a candidate put as shadow.tar.gz is evaluated beside the live policy, never
    // enforced; deleting the object ends it (`pnpm policy drop`, or `promote`).
    const shadowSource = `object-store ${bucket}/${SHADOW_OBJECT}`;
    watchers.push(
      followBucket({
        nc,
        bucket,
        name: SHADOW_OBJECT,
        logger,
        onBundle: async (bytes, info) => {
          logger.info({ bucket, nuid: info.nuid, size: info.size }, 'new shadow policy bundle in the bucket');
          await holder.swapShadow(shadowSource, (directory) => loadBytes(bytes, directory));
        },
        onDelete: async () => holder.dropShadow('the shadow bundle was removed from the bucket'),
      }),
    );
    watchers.push(
      followBucket({
        nc,
        bucket,
        ...(seenNuid ? { seen: seenNuid } : {}),
        logger,
        onBundle: async (bytes, info) => {
          logger.info({ bucket, nuid: info.nuid, size: info.size }, 'new policy bundle in the bucket');
          await holder.swap(bucketSource, (directory) =>
            loadLive(nc, options, bytes, info, directory, logger),
          );
        },
      }),
    );
  }
  if (options.watch) {
    const initialRevision = await sourceRevision(options.dir).catch(() => '');
    watchers.push(
      watchPolicyDir({
        dir: options.dir,
        initialRevision,
        ...(options.watchIntervalMs ? { intervalMs: options.watchIntervalMs } : {}),
        logger,
        onChange: async (revision) => {
          await holder.swap(dirSource, async (directory) =>
            loadBytes((await buildBundle({ ...options, revision })).bytes, directory),
          );
        },
      }),
    );
  }

  return {
    holder,
    service,
    metrics,
    metricsUrl: metricsServer?.url,
    stop: memoStop(async () => {
      stopped = true;
      await service.stop();
      await Promise.all(watchers.map((w) => w.stop()));
      await metricsServer?.stop();
    }),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

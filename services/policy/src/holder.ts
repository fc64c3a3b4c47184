import { CountersignError, type PolicyInfo } from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import type { PolicyEngine } from './engine.js';
import { describeLoadError } from './errors.js';

/** The policy in use: swapped as one reference, so a request sees either the old or the new. */
export interface ActivePolicy {
  engine: PolicyEngine;
  revision: string;
  loaded_at: string;
  /** Where it came from, e.g. `directory policies` or `object-store countersign-policy/bundle.tar.gz`. */
  source: string;
}

/** Reload history for operators (`nats micro stats policy` shows it per replica). */
export interface ReloadStatus {
  revision: string | null;
  loaded_at: string | null;
  source: string | null;
  reloads: number;
  failed_reloads: number;
  last_error: { at: string; source: string; kind: string; message: string } | null;
}

export type SwapResult =
  | { swapped: true; revision: string }
  | { swapped: false; kind: string; message: string; revision: string | null };

/**
 * Holds the current policy. `swap` loads a candidate and replaces the current one only after
 * the candidate passed every check; on failure the last good policy keeps serving and the
 * failure is logged and counted. Swaps run one at a time, in the order they were asked for.
 */
export class PolicyHolder {
  #active: ActivePolicy | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #reloads = 0;
  #failed = 0;
  #lastError: ReloadStatus['last_error'] = null;
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** The policy to evaluate with; `unavailable` before the first successful load. */
  current(): ActivePolicy {
    if (!this.#active) throw new CountersignError('unavailable', 'no policy is loaded yet');
    return this.#active;
  }

  get revision(): string | null {
    return this.#active?.revision ?? null;
  }

  info(): PolicyInfo {
    const active = this.current();
    return {
      revision: active.revision,
      loaded_at: active.loaded_at,
      entrypoints: [...active.engine.entrypoints],
      source: active.source,
    };
  }

  status(): ReloadStatus {
    return {
      revision: this.#active?.revision ?? null,
      loaded_at: this.#active?.loaded_at ?? null,
      source: this.#active?.source ?? null,
      reloads: this.#reloads,
      failed_reloads: this.#failed,
      last_error: this.#lastError,
    };
  }

  /** Loads a candidate with `load` and makes it current if it loads; never throws. */
  swap(source: string, load: () => Promise<PolicyEngine>): Promise<SwapResult> {
    const run = this.#queue.then(() => this.#swapNow(source, load));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #swapNow(source: string, load: () => Promise<PolicyEngine>): Promise<SwapResult> {
    const previous = this.#active?.revision ?? null;
    let engine: PolicyEngine;
    try {
      engine = await load();
    } catch (err) {
      const { kind, message } = describeLoadError(err);
      this.#failed++;
      this.#lastError = { at: new Date().toISOString(), source, kind, message };
      this.#logger.error(
        { source, kind, reason: message, kept_revision: previous },
        'policy rejected: keeping the last good policy',
      );
      return { swapped: false, kind, message, revision: previous };
    }
    this.#active = { engine, revision: engine.revision, loaded_at: new Date().toISOString(), source };
    if (previous !== null) this.#reloads++;
    this.#logger.info({ source, revision: engine.revision, previous_revision: previous }, 'policy loaded');
    return { swapped: true, revision: engine.revision };
  }
}

import { CountersignError, type PolicyInfo } from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import type { PolicyEngine } from './engine.js';
import { describeLoadError } from './errors.js';
import { EMPTY_DIRECTORY, type PolicyDirectory } from './roles.js';

/** The policy in use: swapped as one reference, so a request sees either the old or the new. */
export interface ActivePolicy {
  engine: PolicyEngine;
  /** The bundle's revision. */
  revision: string;
  /** The revision of the directory file whose roles the engine sees. */
  directory_revision: string;
  loaded_at: string;
  /** Where it came from, e.g. `directory policies` or `object-store countersign-policy/bundle.tar.gz`. */
  source: string;
}

/** A candidate evaluated beside the live policy and never enforced (shadow mode). */
export interface ShadowPolicy {
  engine: PolicyEngine;
  revision: string;
  loaded_at: string;
  source: string;
}

/** Shadow mode as `nats micro stats policy` shows it; the counts restart with each shadow. */
export interface ShadowStatus {
  revision: string;
  loaded_at: string;
  evaluations: number;
  disagreements: number;
  errors: number;
}

/** Reload history for operators (`nats micro stats policy` shows it per replica). */
export interface ReloadStatus {
  revision: string | null;
  directory_revision: string;
  loaded_at: string | null;
  source: string | null;
  reloads: number;
  failed_reloads: number;
  /** Why the policy in use is less guarded than it should be (e.g. it carries no golden cases). */
  warnings: string[];
  /** The shadow candidate, when one is published. */
  shadow: ShadowStatus | null;
  last_error: { at: string; source: string; kind: string; message: string } | null;
}

export type SwapResult =
  | { swapped: true; revision: string }
  | { swapped: false; kind: string; message: string; revision: string | null };

/**
 * Holds the current policy. `swap` loads a candidate and replaces the current one only after
 * the candidate passed every check; on failure the last good policy keeps serving and the
 * failure is logged and counted. Swaps run one at a time, in the order they were asked for.
 * The directory is held apart from the bundle: `useDirectory` gives the current policy new
 * roles at once, and every later swap serves with the latest directory, whatever its source.
 */
export class PolicyHolder {
  #active: ActivePolicy | undefined;
  #shadow: ShadowPolicy | undefined;
  #shadowCounts = { evaluations: 0, disagreements: 0, errors: 0 };
  #directory: PolicyDirectory;
  #queue: Promise<unknown> = Promise.resolve();
  #reloads = 0;
  #failed = 0;
  #lastError: ReloadStatus['last_error'] = null;
  readonly #logger: Logger;

  constructor(logger: Logger, directory: PolicyDirectory = EMPTY_DIRECTORY) {
    this.#logger = logger;
    this.#directory = directory;
  }

  /** The directory every policy serves with from now on (start and each load). */
  get directory(): PolicyDirectory {
    return this.#directory;
  }

  /**
   * Serves with new roles: the current policy is re-instantiated with them synchronously, so a
   * request sees either the old roles or the new, and a swap still loading picks them up when
   * it completes (it reads the directory only then).
   */
  useDirectory(directory: PolicyDirectory): void {
    const previous = this.#directory.revision;
    this.#directory = directory;
    const active = this.#active;
    if (active) {
      let engine: PolicyEngine;
      try {
        engine = active.engine.withDirectory(directory);
      } catch (err) {
        // Never thrown into the directory's reloader; counted and shown like a refused bundle.
        const { kind, message } = describeLoadError(err);
        this.#failed++;
        this.#lastError = { at: new Date().toISOString(), source: 'directory', kind, message };
        this.#logger.error(
          {
            directory_revision: directory.revision,
            kept_directory_revision: active.directory_revision,
            reason: message,
          },
          'policy cannot take the new directory: keeping the roles in force',
        );
        return;
      }
      this.#active = { ...active, engine, directory_revision: directory.revision };
    }
    // The shadow sees the same roles, or its disagreements would be the directory's, not the policy's.
    const shadow = this.#shadow;
    if (shadow) {
      try {
        this.#shadow = { ...shadow, engine: shadow.engine.withDirectory(directory) };
      } catch (err) {
        this.#logger.error(
          { shadow_revision: shadow.revision, reason: describeLoadError(err).message },
          'shadow policy cannot take the new directory: shadow dropped',
        );
        this.#shadow = undefined;
      }
    }
    this.#logger.info(
      {
        directory_revision: directory.revision,
        previous_directory_revision: previous,
        revision: active?.revision,
      },
      'policy roles reloaded from the directory',
    );
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
      directory_revision: active.directory_revision,
      loaded_at: active.loaded_at,
      entrypoints: [...active.engine.entrypoints],
      source: active.source,
    };
  }

  status(): ReloadStatus {
    return {
      revision: this.#active?.revision ?? null,
      directory_revision: this.#active?.directory_revision ?? this.#directory.revision,
      loaded_at: this.#active?.loaded_at ?? null,
      source: this.#active?.source ?? null,
      reloads: this.#reloads,
      failed_reloads: this.#failed,
      warnings: [...(this.#active?.engine.warnings ?? [])],
      shadow: this.#shadow
        ? { revision: this.#shadow.revision, loaded_at: this.#shadow.loaded_at, ...this.#shadowCounts }
        : null,
      last_error: this.#lastError,
    };
  }

  /** The shadow candidate, if one is published. */
  shadow(): ShadowPolicy | undefined {
    return this.#shadow;
  }

  /** Counts one shadow evaluation for the stats. */
  countShadow(result: 'agreed' | 'disagreed' | 'failed'): void {
    this.#shadowCounts.evaluations++;
    if (result === 'disagreed') this.#shadowCounts.disagreements++;
    if (result === 'failed') this.#shadowCounts.errors++;
  }

  /**
   * Loads a shadow candidate (checked like any bundle) to evaluate beside the live policy;
   * never throws. A refused one leaves no shadow: its answers would mean nothing.
   */
  swapShadow(
    source: string,
    load: (directory: PolicyDirectory) => Promise<PolicyEngine>,
  ): Promise<SwapResult> {
    const run = this.#queue.then(async (): Promise<SwapResult> => {
      try {
        let engine = await load(this.#directory);
        if (engine.directoryRevision !== this.#directory.revision)
          engine = engine.withDirectory(this.#directory);
        this.#shadow = { engine, revision: engine.revision, loaded_at: new Date().toISOString(), source };
        this.#shadowCounts = { evaluations: 0, disagreements: 0, errors: 0 };
        this.#logger.info(
          { source, shadow_revision: engine.revision, revision: this.#active?.revision },
          'shadow policy loaded: evaluated beside the live policy, never enforced',
        );
        return { swapped: true, revision: engine.revision };
      } catch (err) {
        const { kind, message } = describeLoadError(err);
        this.#shadow = undefined;
        this.#failed++;
        this.#lastError = { at: new Date().toISOString(), source, kind, message };
        this.#logger.error({ source, kind, reason: message }, 'shadow policy rejected: no shadow');
        return { swapped: false, kind, message, revision: this.#active?.revision ?? null };
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Ends shadow mode (the shadow was dropped or promoted). */
  dropShadow(reason: string): void {
    const shadow = this.#shadow;
    if (!shadow) return;
    this.#shadow = undefined;
    this.#logger.info(
      { shadow_revision: shadow.revision, reason, ...this.#shadowCounts },
      'shadow policy ended',
    );
  }

  /**
   * Loads a candidate with `load` and makes it current if it loads; never throws. `load` is
   * handed the directory in force when it starts; the holder re-applies a newer one if the
   * directory changed while it loaded.
   */
  swap(source: string, load: (directory: PolicyDirectory) => Promise<PolicyEngine>): Promise<SwapResult> {
    const run = this.#queue.then(() => this.#swapNow(source, load));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #swapNow(
    source: string,
    load: (directory: PolicyDirectory) => Promise<PolicyEngine>,
  ): Promise<SwapResult> {
    const previous = this.#active?.revision ?? null;
    let engine: PolicyEngine;
    try {
      engine = await load(this.#directory);
      // The directory changed while the candidate loaded: serve with the newer one.
      if (engine.directoryRevision !== this.#directory.revision) {
        engine = engine.withDirectory(this.#directory);
      }
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
    this.#active = {
      engine,
      revision: engine.revision,
      directory_revision: engine.directoryRevision,
      loaded_at: new Date().toISOString(),
      source,
    };
    if (previous !== null) this.#reloads++;
    for (const warning of engine.warnings) {
      this.#logger.warn({ source, revision: engine.revision, warning }, 'policy loaded with a warning');
    }
    this.#logger.info(
      {
        source,
        revision: engine.revision,
        previous_revision: previous,
        directory_revision: engine.directoryRevision,
      },
      'policy loaded',
    );
    return { swapped: true, revision: engine.revision };
  }
}

/**
 * Stops what a benchmark started, in reverse order, even when it fails half way: every start
 * registers its stop here first. One failing stop does not keep the others running.
 */
export class Cleanup {
  #stops: { what: string; stop: () => Promise<unknown> }[] = [];
  #closed = false;

  add(what: string, stop: () => Promise<unknown>): void {
    if (this.#closed) {
      // Started after the cleanup ran (a Ctrl-C during start-up): stop it right away.
      void stop().catch(() => {});
      return;
    }
    active.add(this);
    this.#stops.push({ what, stop });
  }

  async run(): Promise<void> {
    this.#closed = true;
    active.delete(this);
    for (const { what, stop } of this.#stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        console.error(`bench: stopping ${what} failed: ${(err as Error).message}`);
      }
    }
    this.#stops = [];
  }
}

/** Cleanups with something registered and not yet run: what a Ctrl-C must stop. */
const active = new Set<Cleanup>();

/**
 * On SIGINT or SIGTERM, stops everything still running, then exits. The servers run in their
 * own process groups (so a Ctrl-C does not kill PostgreSQL under a running service), so the
 * benchmark itself must stop them. A second signal exits at once (devinfra still SIGKILLs the
 * children it knows of on exit).
 */
export function stopOnSignals(): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    console.error(`\nbench: ${signal}, stopping what was started...`);
    void Promise.allSettled([...active].map((c) => c.run())).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** What every scenario gets from the runner: the mode, how long to measure, and how to log. */
export interface BenchContext {
  quick: boolean;
  /** Repetitions of each measurement; tables report their median. */
  runs: number;
  /** Seconds per measured run: the full figure, or the quick one in --quick mode. */
  seconds(full: number, quick: number): number;
  /** A size (rows, decisions): the full figure, or the quick one. */
  size(full: number, quick: number): number;
  log(message: string): void;
}

export function createContext(quick: boolean): BenchContext {
  const started = performance.now();
  return {
    quick,
    runs: quick ? 1 : 3,
    seconds: (full, quickSeconds) => (quick ? quickSeconds : full),
    size: (full, quickSize) => (quick ? quickSize : full),
    log: (message) => {
      const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
      console.log(`[${t} s] ${message}`);
    },
  };
}

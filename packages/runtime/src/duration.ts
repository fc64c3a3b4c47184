const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/** What a duration looks like; error messages say this instead of echoing the value (it may be a secret's neighbour). */
export const DURATION_FORMAT = 'a duration such as 500ms, 5s, 30m, 2h or 1d (a bare number is milliseconds)';

/**
 * Parses `250`, `250ms`, `5s`, `30m`, `2h`, `1d` to milliseconds: the one duration format of
 * every service's configuration. Throws without quoting the text.
 */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new Error(`must be ${DURATION_FORMAT}`);
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1));
}

/** Parses a comma-separated list of durations, e.g. a retry schedule `0,5s,5m,30m,2h`. */
export function parseDurationList(text: string): number[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map(parseDuration);
}

/** `1500` -> `1.5s`, `300000` -> `5m`: a bound or default in the words the parser accepts. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

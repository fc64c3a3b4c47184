import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, env, loadConfig } from './config.js';
import { formatDuration, parseDuration, parseDurationList } from './duration.js';

describe('durations', () => {
  it('parses units and lists; a bare number is milliseconds', () => {
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDurationList('0, 5s,5m,30m,2h,1d')).toEqual([
      0, 5000, 300_000, 1_800_000, 7_200_000, 86_400_000,
    ]);
  });

  it('refuses anything else without quoting it', () => {
    for (const text of ['5 minutes', '-1s', 's', '10x', '', 'tomorrow']) {
      expect(() => parseDuration(text), text).toThrow(/must be a duration such as 500ms/);
    }
    expect(() => parseDuration('tomorrow')).not.toThrow(/tomorrow/);
  });

  it('formats bounds in the largest whole unit', () => {
    expect(formatDuration(100)).toBe('100ms');
    expect(formatDuration(1500)).toBe('1500ms');
    expect(formatDuration(60_000)).toBe('1m');
    expect(formatDuration(30 * 86_400_000)).toBe('30d');
  });
});

describe('env.duration', () => {
  const Schema = z.object({ WAIT: env.duration('5s', { min: 100, max: 60_000 }) });

  it('defaults in the same format and parses to milliseconds', () => {
    expect(loadConfig(Schema, {}).WAIT).toBe(5000);
    expect(loadConfig(Schema, { WAIT: '1m' }).WAIT).toBe(60_000);
    expect(loadConfig(Schema, { WAIT: '750' }).WAIT).toBe(750);
  });

  it('names the variable and the bound, never the value', () => {
    for (const [value, message] of [
      ['99ms', 'must be at least 100ms'],
      ['2m', 'must be at most 1m'],
      ['secret-looking', 'must be a duration'],
    ] as const) {
      let error: unknown;
      try {
        loadConfig(Schema, { WAIT: value });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues).toEqual([
        { variable: 'WAIT', message: expect.stringContaining(message) },
      ]);
      expect((error as Error).message).not.toContain(value);
    }
  });
});

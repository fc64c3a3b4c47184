import { describe, expect, it } from 'vitest';
import { redactedTarget } from './access-log.js';

describe('redactedTarget', () => {
  it('redacts review tokens and sign-in codes, keeps the rest', () => {
    expect(redactedTarget('/approvals/a-1/review?token=abc.def')).toBe(
      '/approvals/a-1/review?token=[redacted]',
    );
    expect(redactedTarget('/auth/callback?code=xyz&state=s1&iss=https%3A%2F%2Fidp')).toBe(
      '/auth/callback?code=[redacted]&state=[redacted]&iss=https%3A%2F%2Fidp',
    );
    expect(redactedTarget('/dashboard?status=pending&limit=5')).toBe('/dashboard?status=pending&limit=5');
    expect(redactedTarget('/healthz')).toBe('/healthz');
  });

  it('whatever the spelling: encoded names, repeats, case, an absolute-form target', () => {
    const target = redactedTarget('/x?tok%65n=one&TOKEN=two&token=three&access_token=four');
    for (const value of ['one', 'two', 'three', 'four']) expect(target).not.toContain(value);
    expect(redactedTarget('//evil.example/r?token=five')).not.toContain('five');
  });
});

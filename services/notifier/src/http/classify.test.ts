import { describe, expect, it } from 'vitest';
import { classifyRequestError, classifyResponse } from './classify.js';
import { RequestRefused, RequestTimeout } from './safe-post.js';

const response = (status: number, headers: Record<string, string> = {}) => ({ status, headers, body: '' });

describe('HTTP outcome', () => {
  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [301, 'failed'],
    [307, 'failed'],
    [400, 'failed'],
    [401, 'failed'],
    [404, 'failed'],
    [408, 'retry'],
    [410, 'gone'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
  ])('%i is %s', (status, result) => {
    expect(classifyResponse(response(status)).result).toBe(result);
  });

  it('carries Retry-After on retryable answers', () => {
    expect(classifyResponse(response(429, { 'retry-after': '7' }))).toMatchObject({ retryAfterMs: 7000 });
    expect(classifyResponse(response(503, { 'retry-after': '2' }))).toMatchObject({ retryAfterMs: 2000 });
  });

  it('retries network errors and timeouts, never a refused address', () => {
    expect(
      classifyRequestError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).result,
    ).toBe('retry');
    expect(classifyRequestError(new RequestTimeout(100)).result).toBe('retry');
    expect(classifyRequestError(new RequestRefused('address 10.0.0.1 is private')).result).toBe('failed');
  });
});

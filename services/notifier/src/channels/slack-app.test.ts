import { ErrorCode } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { classifySlackError } from './slack-app.js';

// The client is loaded at the first delivery, so its error codes are written out in
// slack-app.ts; these are the client's own values.
describe('classifySlackError', () => {
  it("sorts the Web API client's errors by its own codes", () => {
    expect(
      classifySlackError({ code: ErrorCode.PlatformError, data: { error: 'channel_not_found' } }),
    ).toEqual({
      result: 'failed',
      error: 'Slack: channel_not_found',
    });
    expect(
      classifySlackError({ code: ErrorCode.PlatformError, data: { error: 'internal_error' } }),
    ).toMatchObject({
      result: 'retry',
    });
    expect(classifySlackError({ code: ErrorCode.RateLimitedError, retryAfter: 3 })).toMatchObject({
      result: 'retry',
      retryAfterMs: 3000,
    });
    expect(classifySlackError({ code: ErrorCode.HTTPError, statusCode: 502 })).toMatchObject({
      result: 'retry',
      status: 502,
    });
    expect(classifySlackError({ code: ErrorCode.RequestError, message: 'socket hang up' })).toMatchObject({
      result: 'retry',
      error: 'Slack: request failed: socket hang up',
    });
  });
});

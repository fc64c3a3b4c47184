import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { unavailableFrom } from './call.js';

describe('unavailableFrom', () => {
  it('names the reason of a failed request, and keeps the cause', () => {
    const noResponders = new RequestError('no responders', { cause: new NoRespondersError('approval.get') });
    expect(unavailableFrom('approval.get', noResponders)).toMatchObject({
      code: 'unavailable',
      message: 'no service is answering approval.get',
      details: { subject: 'approval.get' },
      cause: noResponders,
    });
    expect(unavailableFrom('approval.get', new TimeoutError()).message).toBe(
      'approval.get did not answer in time',
    );
    const wrapped = new RequestError('timeout', { cause: new TimeoutError() });
    expect(unavailableFrom('approval.get', wrapped).message).toBe('approval.get did not answer in time');
    expect(unavailableFrom('approval.get', new Error('closed')).message).toBe(
      'request to approval.get failed: Error: closed',
    );
  });

  it('tells nats-core errors apart by name, so a second copy of nats-core is read the same way', () => {
    // What another copy of nats-core throws: same names, other classes.
    class ForeignTimeout extends Error {
      override name = 'TimeoutError';
    }
    class ForeignRequestError extends Error {
      override name = 'RequestError';
    }
    const foreign = new ForeignRequestError('timeout', { cause: new ForeignTimeout('timeout') });
    expect(foreign).not.toBeInstanceOf(RequestError);
    expect(unavailableFrom('policy.evaluate', foreign).message).toBe(
      'policy.evaluate did not answer in time',
    );
  });
});

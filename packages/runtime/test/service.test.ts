/**
 * Service endpoints against a real nats-server: every failure reaches the requester as a
 * structured error, whatever text the error carries.
 */
import { CountersignError, Headers } from '@countersign/contracts';
import { useTestNats } from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, startService } from '../src/index.js';

const nats = await useTestNats();
const nc = await nats.connect();
afterAll(() => nc.close());
const logger = createLogger({ service: 'test', level: 'silent' });

describe('startService', () => {
  it('answers an error whose message holds line breaks (a JSON parser quoting the input) instead of leaving the requester waiting', async () => {
    const message = 'payload is not valid JSON: Unexpected token \'\r\', "\r\n{" is not valid';
    const service = await startService(
      nc,
      { name: 'policy', version: '0.0.1', description: 'test' },
      {
        policyInfo: async () => {
          throw new CountersignError('invalid_request', message);
        },
      },
      logger,
    );
    try {
      const reply = await nc.request('policy.info', '{}', { timeout: 2_000 });
      expect(reply.headers?.get(Headers.serviceErrorCode)).toBe('400');
      // The header is one line; the body keeps the message exactly.
      expect(reply.headers?.get(Headers.serviceError)).not.toMatch(/[\r\n]/);
      expect(JSON.parse(new TextDecoder().decode(reply.data)).error).toEqual({
        code: 'invalid_request',
        message,
      });
    } finally {
      await service.stop();
    }
  });
});

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, flatLineLogger } from './logger.js';

function capture() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  return { logger: createLogger({ service: 'test', destination: stream }), lines };
}

describe('flatLineLogger', () => {
  it('writes a flat line exactly as the service logger does, its bindings included', async () => {
    const { logger, lines } = capture();
    const record = { action_id: 'pay-1', outcome: 'approve', reasons: ['low_amount'], required_approvals: 0 };
    logger.child({ log: 'decision' }).info(record, 'policy decision');
    flatLineLogger(logger, { log: 'decision' }).info(record, 'policy decision');
    await new Promise((resolve) => setImmediate(resolve));
    const [full, flat] = lines.map(({ time: _time, ...rest }) => rest);
    expect(flat).toEqual(full);
    expect(flat).toMatchObject({ service: 'test', log: 'decision', action_id: 'pay-1' });
  });

  it('still redacts a secret logged at the top level', async () => {
    const { logger, lines } = capture();
    flatLineLogger(logger, { log: 'decision' }).info(
      { token: 'tok-123', password: 'pw', secret: 's', authorization: 'Bearer x' },
      'oops',
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines[0]).toMatchObject({
      token: '[redacted]',
      password: '[redacted]',
      secret: '[redacted]',
      authorization: '[redacted]',
    });
    expect(JSON.stringify(lines[0])).not.toMatch(/tok-123|Bearer x/);
  });
});

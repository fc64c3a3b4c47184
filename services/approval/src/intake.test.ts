import { CountersignError, MAX_PAYLOAD_BYTES } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { classify, invalidMessageEvent } from './intake.js';

const bytes = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const valid = { action_id: 'pay-1', action_type: 'payment', description: 'Pay', requested_by: 'dave' };

describe('classify', () => {
  it('reads a valid request, with defaults applied', () => {
    expect(classify(bytes(valid))).toEqual({
      kind: 'item',
      item: { kind: 'request', request: { ...valid, context: {} } },
    });
  });

  it('cannot address non-JSON, non-objects, or a missing or malformed action_id', () => {
    for (const raw of [
      'not json',
      '[1,2]',
      '42',
      '',
      { ...valid, action_id: undefined },
      { ...valid, action_id: 'a.b' },
    ]) {
      const c = classify(bytes(raw));
      expect(c.kind, JSON.stringify(raw)).toBe('unaddressable');
      if (c.kind === 'unaddressable') expect(c.error.code).toBe('invalid_request');
    }
  });

  it('addresses an invalid request by its action_id, naming every bad field', () => {
    const c = classify(bytes({ action_id: 'pay-2', action_type: 'payment', requested_by: '', extra: 1 }));
    expect(c.kind).toBe('item');
    if (c.kind !== 'item' || c.item.kind !== 'invalid') throw new Error('expected an invalid item');
    expect(c.item.action_id).toBe('pay-2');
    const fields = ((c.item.error.details?.fields as { path: string }[] | undefined) ?? []).map(
      (f) => f.path,
    );
    expect([...new Set(fields)].sort()).toEqual(['description', 'extra', 'requested_by']);
  });

  it('addresses an oversized request when its action_id can be read', () => {
    const big = { ...valid, description: 'x'.repeat(MAX_PAYLOAD_BYTES) };
    const c = classify(bytes(big));
    expect(c).toMatchObject({ kind: 'item', item: { kind: 'invalid', action_id: 'pay-1' } });
    if (c.kind === 'item' && c.item.kind === 'invalid') expect(c.item.error.code).toBe('payload_too_large');
    expect(classify(bytes('y'.repeat(MAX_PAYLOAD_BYTES + 1)))).toMatchObject({ kind: 'unaddressable' });
  });

  it('addresses a request nested too deeply to walk, keeping only its top-level fields', () => {
    const deep = `{"action_id":"pay-3","description":"Pay","context":{"d":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
    const c = classify(bytes(deep));
    expect(c).toMatchObject({ kind: 'item', item: { kind: 'invalid', action_id: 'pay-3' } });
    if (c.kind === 'item' && c.item.kind === 'invalid') {
      expect(c.item.error.message).toMatch(/nested deeper than/);
      expect(c.item.raw).toEqual({ action_id: 'pay-3', description: 'Pay' });
    }
  });
});

describe('invalidMessageEvent', () => {
  it('carries the error and the raw text, truncated past the payload limit', () => {
    const error = new CountersignError('invalid_request', 'bad');
    const small = invalidMessageEvent(bytes('oops'), error, new Date(0));
    expect(small).toEqual({
      error: { code: 'invalid_request', message: 'bad' },
      raw: 'oops',
      received_at: '1970-01-01T00:00:00.000Z',
    });
    const big = invalidMessageEvent(bytes('z'.repeat(MAX_PAYLOAD_BYTES + 10)), error, new Date(0));
    expect(big.raw.length).toBe(MAX_PAYLOAD_BYTES);
    expect(big.error.details).toEqual({ raw_bytes: MAX_PAYLOAD_BYTES + 10, raw_truncated: true });
  });
});

import { ActionId } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { callActionId, idempotencyKeyOf, requestActionId, toolActionType } from './action-ids.js';

describe('callActionId', () => {
  it('is the same for the same call, whatever the order of its arguments', () => {
    const a = callActionId('agent-a', 'delete_file', { path: '/x', force: true }, undefined);
    expect(callActionId('agent-a', 'delete_file', { force: true, path: '/x' }, undefined)).toBe(a);
    expect(ActionId.safeParse(a).success).toBe(true);
  });

  it('differs by agent, tool, arguments and idempotency key', () => {
    const a = callActionId('agent-a', 'delete_file', { path: '/x' }, undefined);
    expect(callActionId('agent-b', 'delete_file', { path: '/x' }, undefined)).not.toBe(a);
    expect(callActionId('agent-a', 'drop_file', { path: '/x' }, undefined)).not.toBe(a);
    expect(callActionId('agent-a', 'delete_file', { path: '/y' }, undefined)).not.toBe(a);
    const keyed = callActionId('agent-a', 'send_money', { amount: 10 }, 'k1');
    expect(callActionId('agent-a', 'send_money', { amount: 10 }, 'k2')).not.toBe(keyed);
    expect(callActionId('agent-a', 'send_money', { amount: 10 }, 'k1')).toBe(keyed);
  });
});

describe('requestActionId', () => {
  it('derives from the agent and its key, else is fresh', () => {
    const fresh = () => 'fresh-1';
    expect(requestActionId('agent-a', undefined, fresh)).toBe('fresh-1');
    expect(requestActionId('agent-a', 'k', fresh)).toBe(requestActionId('agent-a', 'k', fresh));
    expect(requestActionId('agent-a', 'k', fresh)).not.toBe(requestActionId('agent-b', 'k', fresh));
  });
});

describe('idempotencyKeyOf', () => {
  it('reads a non-empty string key from _meta only', () => {
    expect(idempotencyKeyOf({ 'countersign/idempotency_key': 'k' })).toBe('k');
    expect(idempotencyKeyOf({ 'countersign/idempotency_key': '' })).toBeUndefined();
    expect(idempotencyKeyOf({ 'countersign/idempotency_key': 7 })).toBeUndefined();
    expect(idempotencyKeyOf(undefined)).toBeUndefined();
  });
});

describe('toolActionType', () => {
  it('prefixes the tool, so no tool poses as a built-in action type', () => {
    expect(toolActionType('task_pause')).toBe('mcp.task_pause');
    expect(toolActionType('delete file')).toBe('mcp.delete_file');
  });

  it('keeps a long name within 64 characters, distinct per name', () => {
    const long = toolActionType('x'.repeat(100));
    expect(long.length).toBeLessThanOrEqual(64);
    expect(toolActionType(`${'x'.repeat(99)}y`)).not.toBe(long);
  });
});

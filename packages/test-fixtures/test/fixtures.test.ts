import { beforeAll, describe, expect, it } from 'vitest';
import { useTestNats } from '../src/index.js';

// Created inside beforeAll on purpose: cleanup must still happen after the file (scripts/test.sh
// fails the run when a test server outlives the tests).
let pid = -1;
beforeAll(async () => {
  const nats = await useTestNats();
  pid = nats.server?.pid() ?? -1;
});

function alive(p: number): boolean {
  try {
    process.kill(p, 0);
    return true;
  } catch {
    return false;
  }
}

describe('fixtures created in beforeAll', () => {
  it('start a server', () => {
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid)).toBe(true);
  });
});

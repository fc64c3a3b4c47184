/**
 * The event stream's `Last-Event-ID`, over plain HTTP: a client that disconnects and reconnects
 * with the last id it got receives exactly the events it missed, then the live ones, with no gap
 * and no duplicate; an id it cannot resume from gets a reset marker; a malformed one a
 * structured 400 naming the header.
 */
import { Streams, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { MAX_REPLAY } from '../src/http/events.js';
import { startHttpHarness } from './http-support.js';
import { call, request } from './support.js';

const h = await startHttpHarness('http_events');
const jsm = await h.js.jetstreamManager();

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/** An open event stream, read message by message (comments skipped). */
async function open(headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const res = await fetch(`${h.base}/api/v1/events`, {
    headers: { authorization: `Bearer ${h.tokens.alice}`, ...headers },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  const queue: SseMessage[] = [];
  const parse = (block: string): SseMessage | undefined => {
    const message: SseMessage = {};
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const field = line.slice(0, colon);
      if (field === 'id' || field === 'event' || field === 'data') message[field] = line.slice(colon + 2);
    }
    return message.event ? message : undefined;
  };
  /** The next event message. */
  const next = async (): Promise<SseMessage> => {
    for (;;) {
      const queued = queue.shift();
      if (queued) return queued;
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended');
      buffered += decoder.decode(value, { stream: true });
      const blocks = buffered.split('\n\n');
      buffered = blocks.pop() ?? '';
      for (const block of blocks) {
        const message = parse(block);
        if (message) queue.push(message);
      }
    }
  };
  /** Event messages until one satisfies `match`; returns all of them, that one last. */
  const until = async (match: (m: SseMessage) => boolean): Promise<SseMessage[]> => {
    const seen: SseMessage[] = [];
    for (;;) {
      const m = await next();
      seen.push(m);
      if (match(m)) return seen;
    }
  };
  const close = async () => {
    abort.abort();
    await reader.cancel().catch(() => {});
  };
  return { res, next, until, close };
}

const about = (actionId: string, type: string) => (m: SseMessage) =>
  m.event === type && (m.data ?? '').includes(`"action_id":"${actionId}"`);
const actionOf = (m: SseMessage) =>
  (JSON.parse(m.data as string) as { data: { action_id: string } }).data.action_id;

/** The stream's last sequence once it holds `approval.decided.<id>`. */
async function decidedStored(actionId: string): Promise<number> {
  await waitUntil(
    async () =>
      (await jsm.streams.getMessage(Streams.events, { last_by_subj: Subjects.decided(actionId) })) !== null,
    { message: `the decided event of ${actionId} in the stream` },
  );
  return (await jsm.streams.info(Streams.events)).state.last_seq;
}

describe('Last-Event-ID', () => {
  it('replays exactly the events missed while disconnected, then continues live', async () => {
    const first = await open();
    const before = await call(h.nc, 'submit', request('sse-before', { context: { amount: 1500 } }));
    const [seenBefore] = (await first.until(about(before.action_id, 'approval.pending'))).slice(-1);
    const lastId = seenBefore?.id as string;
    expect(lastId).toMatch(/^\d+$/);
    await first.close();

    // While disconnected: three approvals decided (a pending and a decided event each).
    const missed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await call(h.nc, 'submit', request(`sse-missed-${i}`, { context: { amount: 1500 } }));
      await call(h.nc, 'decide', { action_id: a.action_id, approved: i !== 1, decided_by: 'frank' });
      missed.push(a.action_id);
    }
    await call(h.nc, 'decide', { action_id: before.action_id, approved: true, decided_by: 'frank' });
    missed.push(before.action_id);
    await decidedStored(before.action_id);

    const second = await open({ 'last-event-id': lastId });
    const live = await call(h.nc, 'submit', request('sse-live', { context: { amount: 1500 } }));
    const got = await second.until(about(live.action_id, 'approval.pending'));
    await second.close();

    const ids = got.map((m) => Number(m.id));
    expect(
      ids.every((id, i) => i === 0 || id > (ids[i - 1] as number)),
      `ids ${ids}`,
    ).toBe(true);
    expect(ids[0]).toBeGreaterThan(Number(lastId));
    const replayed = got.slice(0, -1);
    const mine = replayed.filter((m) => missed.includes(actionOf(m)));
    // Exactly what was missed: each decided approval's pending (except the one seen before it
    // disconnected) and decided event, once each, and nothing from before the id.
    expect(mine.map((m) => `${m.event} ${actionOf(m)}`).sort()).toEqual(
      [
        ...missed.slice(0, 3).map((id) => `approval.pending ${id}`),
        ...missed.map((id) => `approval.decided ${id}`),
      ].sort(),
    );
    expect(replayed.some((m) => actionOf(m) === before.action_id && m.event === 'approval.pending')).toBe(
      false,
    );
  });

  it('sends nothing twice when events are published while the replay runs', async () => {
    const first = await open();
    const anchor = await call(h.nc, 'submit', request('sse-anchor', { context: { amount: 1500 } }));
    const lastId = (await first.until(about(anchor.action_id, 'approval.pending'))).slice(-1)[0]
      ?.id as string;
    await first.close();
    // Submitted all at once: their events reach the stream while the reconnect runs.
    const burst = (label: string, n: number) =>
      Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const a = await call(h.nc, 'submit', request(`${label}-${i}`, { context: { amount: 1500 } }));
          return a.action_id;
        }),
      );
    const earlier = await burst('sse-early', 5);
    const lateIds = burst('sse-late', 40);
    // Reconnect while more are being submitted: some come from the replay, some live.
    const second = await open({ 'last-event-id': lastId });
    const later = await lateIds;
    const streamed = new Set<string>();
    const got = await second.until((m) => {
      if (m.event === 'approval.pending') streamed.add(actionOf(m));
      return later.every((id) => streamed.has(id));
    });
    await second.close();
    const pendingIds = got.filter((m) => m.event === 'approval.pending').map(actionOf);
    for (const id of [...earlier, ...later]) expect(pendingIds.filter((p) => p === id)).toHaveLength(1);
    const seqs = got.map((m) => Number(m.id));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('refuses a malformed id with a structured 400 naming the header, after authentication', async () => {
    const anonymous = await fetch(`${h.base}/api/v1/events`, { headers: { 'last-event-id': 'abc' } });
    expect(anonymous.status).toBe(401);
    for (const bad of ['abc', '12.decided', '-1', '99999999999999999999']) {
      const res = await h.api('GET', '/api/v1/events', { as: 'alice', headers: { 'last-event-id': bad } });
      expect(res.status, bad).toBe(400);
      expect(res.json.error).toMatchObject({
        code: 'invalid_request',
        details: { fields: [{ path: 'Last-Event-ID' }] },
      });
    }
  });

  it('sends a reset marker for an id it cannot resume from, then continues live', async () => {
    const { last_seq } = (await jsm.streams.info(Streams.events)).state;
    const ahead = await open({ 'last-event-id': String(last_seq + 1_000_000) });
    expect(await ahead.next()).toMatchObject({ event: 'reset', data: expect.stringContaining('"unknown"') });
    const live = await call(h.nc, 'submit', request('sse-after-reset', { context: { amount: 1500 } }));
    await ahead.until(about(live.action_id, 'approval.pending'));
    await ahead.close();

    // More than the replay cap behind: a reset, not an unbounded replay. (approval.invalid
    // messages fill the sequence cheaply; they are never streamed.)
    const behind = String((await jsm.streams.info(Streams.events)).state.last_seq);
    for (let i = 0; i <= MAX_REPLAY; i++) h.nc.publish(Subjects.invalid, '{}');
    await h.nc.flush();
    await waitUntil(
      async () => (await jsm.streams.info(Streams.events)).state.last_seq > Number(behind) + MAX_REPLAY,
      { message: 'the filler messages in the stream' },
    );
    const far = await open({ 'last-event-id': behind });
    expect(await far.next()).toMatchObject({ event: 'reset', data: expect.stringContaining('"too_many"') });
    await far.close();
  });
});

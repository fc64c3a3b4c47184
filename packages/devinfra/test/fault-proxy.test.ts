import { once } from 'node:events';
import { type AddressInfo, createServer, Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../src/index.js';

/** An echo server on loopback: what the proxy sits in front of. */
const echo = createServer((socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
});
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
const echoPort = (echo.address() as AddressInfo).port;
const proxy = await startFaultProxy({ targetPort: echoPort });
afterAll(async () => {
  await proxy.stop();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

/** A client that collects what it reads and remembers how it ended. */
async function client() {
  const socket = new Socket();
  let received = '';
  let error: NodeJS.ErrnoException | undefined;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString();
  });
  socket.on('error', (err) => {
    error = err;
  });
  socket.connect(proxy.port, '127.0.0.1');
  await once(socket, 'connect');
  return { socket, received: () => received, error: () => error };
}

async function until(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('fault proxy', () => {
  it('forwards both ways, and delays by the latency it is given', async () => {
    const c = await client();
    c.socket.write('hello');
    await until(() => c.received() === 'hello');
    proxy.setLatency(150);
    const started = Date.now();
    c.socket.write('slow');
    await until(() => c.received() === 'helloslow');
    // Both directions are delayed: about twice the latency for a round trip.
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    proxy.heal();
    c.socket.destroy();
  });

  it('resets every open connection; new ones work', async () => {
    const c = await client();
    await until(() => proxy.connections() >= 1);
    expect(proxy.resetAll()).toBeGreaterThanOrEqual(1);
    await until(() => c.socket.destroyed);
    expect(c.error()?.code).toBe('ECONNRESET');
    const next = await client();
    next.socket.write('again');
    await until(() => next.received() === 'again');
    next.socket.destroy();
  });

  it('holds traffic in a black hole, for open and new connections, and lets it through in order when healed', async () => {
    const open = await client();
    proxy.blackhole();
    open.socket.write('one,');
    open.socket.write('two');
    const fresh = await client(); // accepted, not connected onward
    fresh.socket.write('new');
    // The proxy has every byte, and holds them: nothing can have reached the echo server.
    await until(() => proxy.queued() === 'one,two'.length + 'new'.length);
    expect(open.received()).toBe('');
    expect(fresh.received()).toBe('');
    expect(open.socket.destroyed).toBe(false);
    proxy.heal();
    await until(() => open.received() === 'one,two' && fresh.received() === 'new');
    open.socket.destroy();
    fresh.socket.destroy();
  });
});

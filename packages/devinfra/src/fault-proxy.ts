import { createServer, type Server, Socket } from 'node:net';
import { freePort } from './ports.js';

export interface FaultProxyOptions {
  /** Where connections are forwarded to (loopback). */
  targetPort: number;
  targetHost?: string;
  /** Port to listen on; a free one when absent. */
  port?: number;
}

export interface FaultProxy {
  port: number;
  /** `host:port` of the proxy, to put in a connection URL instead of the target's. */
  address: string;
  /** Delays every chunk, both ways, by `ms` (0 = none). Order is kept. */
  setLatency(ms: number): void;
  /**
   * Destroys every open connection with a TCP RST, on both sides, as a flapping network or a
   * restarted load balancer does. New connections are accepted as usual. Returns how many.
   */
  resetAll(): number;
  /**
   * Stops traffic without closing anything: bytes are held, not dropped (TCP retransmits what
   * a real black hole swallows, so the peers see a stall, not corrupted streams), and new
   * connections are accepted but not connected onward, until {@link heal}.
   */
  blackhole(): void;
  /** Ends latency and the black hole; held bytes and connections go through in order. */
  heal(): void;
  /** Open proxied connections. */
  connections(): number;
  /** Bytes received and not yet forwarded: held by the black hole, or waiting out the latency. */
  queued(): number;
  stop(): Promise<void>;
}

/** One direction of a proxied connection: chunks wait here for their release time. */
class Lane {
  private readonly queue: { at: number; chunk: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ending = false;

  constructor(
    private readonly dest: Socket,
    private readonly held: () => boolean,
    private readonly latency: () => number,
  ) {}

  /** Bytes waiting in this lane. */
  bytes(): number {
    return this.queue.reduce((n, { chunk }) => n + chunk.length, 0);
  }

  push(chunk: Buffer): void {
    this.queue.push({ at: Date.now() + this.latency(), chunk });
    this.pump();
  }

  /** The source ended: end the destination once everything queued has gone. */
  end(): void {
    this.ending = true;
    this.pump();
  }

  pump(): void {
    if (this.held() || this.dest.destroyed || this.dest.connecting) return;
    const now = Date.now();
    while (this.queue.length > 0 && (this.queue[0]?.at ?? 0) <= now) {
      this.dest.write((this.queue.shift() as { chunk: Buffer }).chunk);
    }
    if (this.queue.length > 0) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(), (this.queue[0]?.at ?? now) - now);
    } else if (this.ending) {
      this.dest.end();
    }
  }

  clear(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

interface Pair {
  client: Socket;
  upstream: Socket;
  lanes: Lane[];
  connect(): void;
}

/**
 * A TCP proxy on loopback that injects network faults between services and PostgreSQL or NATS:
 * latency, connection resets and a black hole, each until healed. Tests point the services'
 * connection URLs at it and keep their own connections direct.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const host = options.targetHost ?? '127.0.0.1';
  const port = options.port ?? (await freePort());
  const pairs = new Set<Pair>();
  let latencyMs = 0;
  let holding = false;
  const held = () => holding;
  const latency = () => latencyMs;

  const server: Server = createServer((client) => {
    const upstream = new Socket();
    const toUpstream = new Lane(upstream, held, latency);
    const toClient = new Lane(client, held, latency);
    let connectStarted = false;
    const pair: Pair = {
      client,
      upstream,
      lanes: [toUpstream, toClient],
      connect() {
        if (connectStarted) return;
        connectStarted = true;
        upstream.connect(options.targetPort, host);
      },
    };
    pairs.add(pair);
    const close = () => {
      if (!pairs.delete(pair)) return;
      for (const lane of pair.lanes) lane.clear();
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => toUpstream.push(chunk));
    upstream.on('data', (chunk: Buffer) => toClient.push(chunk));
    client.on('end', () => toUpstream.end());
    upstream.on('end', () => toClient.end());
    upstream.on('connect', () => toUpstream.pump());
    // Either side failing or closing takes the other down with it, as a broken path would.
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      socket.on('close', close);
    }
    if (!holding) pair.connect();
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

  return {
    port,
    address: `127.0.0.1:${port}`,
    setLatency(ms) {
      latencyMs = Math.max(0, ms);
    },
    resetAll() {
      const count = pairs.size;
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        for (const lane of pair.lanes) lane.clear();
        for (const socket of [pair.client, pair.upstream]) {
          // resetAndDestroy sends RST; a socket not yet connected can only be destroyed.
          if (socket.connecting || socket.destroyed || socket.pending) socket.destroy();
          else socket.resetAndDestroy();
        }
      }
      return count;
    },
    blackhole() {
      holding = true;
    },
    heal() {
      holding = false;
      latencyMs = 0;
      for (const pair of pairs) {
        pair.connect();
        for (const lane of pair.lanes) lane.pump();
      }
    },
    connections: () => pairs.size,
    queued: () => [...pairs].reduce((n, pair) => n + pair.lanes.reduce((m, lane) => m + lane.bytes(), 0), 0),
    async stop() {
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

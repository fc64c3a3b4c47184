import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startInfra, startMailSink, startNatsServer, startPostgres } from '../src/index.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function query(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('devinfra launcher', () => {
  it('starts PostgreSQL and nats-server with JetStream, and stops both', async () => {
    const infra = await startInfra({ postgres: { durable: false } });
    const pgPid = infra.postgres?.pid() ?? -1;
    const natsPid = infra.nats?.pid() ?? -1;
    try {
      expect(await query(infra.databaseUrl, 'select 41 + 1 as answer')).toEqual([{ answer: 42 }]);
      const nc = await connect({ servers: infra.natsUrl });
      const info = nc.info;
      await nc.close();
      expect(info?.jetstream).toBe(true);
      expect(alive(pgPid) && alive(natsPid)).toBe(true);
    } finally {
      await infra.stop();
    }
    expect(alive(pgPid)).toBe(false);
    expect(alive(natsPid)).toBe(false);
  });

  it('keeps committed data across a PostgreSQL crash and restart', async () => {
    const server = await startPostgres({ durable: true });
    try {
      await query(server.url, 'create table t (x int); insert into t values (7)');
      const before = server.pid();
      await server.crash();
      expect(alive(before)).toBe(false);
      await server.restart();
      expect(await query(server.url, 'select x from t')).toEqual([{ x: 7 }]);
    } finally {
      await server.stop();
    }
  });

  it('keeps JetStream data across a nats-server crash and restart on the same store', async () => {
    const server = await startNatsServer();
    try {
      const { jetstreamManager } = await import('@nats-io/jetstream');
      let nc = await connect({ servers: server.url });
      let jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'S', subjects: ['s.>'] });
      await jsm.jetstream().publish('s.1', 'hello');
      await nc.close();
      await server.crash();
      await server.restart();
      nc = await connect({ servers: server.url });
      jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info('S');
      await nc.close();
      expect(info.state.messages).toBe(1);
    } finally {
      await server.stop();
    }
  });

  it('uses provided URLs instead of starting servers', async () => {
    const infra = await startInfra({
      databaseUrl: 'postgres://x@127.0.0.1:1/x',
      natsUrl: 'nats://127.0.0.1:1',
    });
    expect(infra.postgres).toBeUndefined();
    expect(infra.nats).toBeUndefined();
    expect(infra.databaseUrl).toBe('postgres://x@127.0.0.1:1/x');
    await infra.stop();
  });
});

describe('mail sink', () => {
  it('receives and parses a message, and refuses with the code it is told', async () => {
    const { createTransport } = await import('nodemailer');
    let refuse: { code: number; message: string } | undefined;
    const sink = await startMailSink({ respond: () => refuse });
    try {
      const transport = createTransport(sink.url);
      await transport.sendMail({
        from: 'cs@example.test',
        to: 'alice@example.test',
        subject: 'Approve payment',
        text: 'plain',
        html: '<p>html</p>',
      });
      expect(sink.received).toHaveLength(1);
      expect(sink.received[0]).toMatchObject({ subject: 'Approve payment', to: ['alice@example.test'] });
      expect(sink.received[0]?.html).toContain('<p>html</p>');
      refuse = { code: 451, message: 'try later' };
      await expect(
        transport.sendMail({ from: 'cs@example.test', to: 'a@example.test', subject: 's', text: 't' }),
      ).rejects.toMatchObject({ responseCode: 451 });
      expect(sink.received).toHaveLength(1);
    } finally {
      await sink.stop();
    }
  });
});

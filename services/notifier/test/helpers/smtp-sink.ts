import type { AddressInfo, Socket } from 'node:net';
import PostalMime, { type Email } from 'postal-mime';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

/** What the sink answers to a message, decided per message. */
export type SinkAnswer =
  | { kind: 'accept' }
  | { kind: 'reject'; code: number; message: string }
  /** Read the whole message, then never answer (until the client goes away). */
  | { kind: 'stall' };

export interface ReceivedMail {
  to: string[];
  email: Email;
  /** Whether the sink answered 250 (a stalled message was received but never confirmed). */
  accepted: boolean;
  receivedAt: number;
}

export interface SmtpSink {
  /** With `?starttls=optional`: the sink has no TLS, so tests allow plaintext explicitly. */
  url: string;
  /** The same sink with the production default (STARTTLS required). */
  defaultUrl: string;
  /** Every message whose data arrived completely, answered or not. */
  received: ReceivedMail[];
  accepted(): ReceivedMail[];
  /** Messages seen per recipient, including rejected ones. */
  attemptsFor(address: string): number;
  /** Every AUTH the sink was sent (user names), accepted or not. */
  logins: string[];
  /** Every SMTP command the sink saw, in order (STARTTLS included): what went over the wire. */
  commands: string[];
  close(): Promise<void>;
}

export interface SmtpSinkOptions {
  user?: string;
  password?: string;
  answer?: (recipient: string, attempt: number) => SinkAnswer;
}

/** An in-process SMTP server on 127.0.0.1 (no TLS) that records and parses what it gets. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const attempts = new Map<string, number>();
  const logins: string[] = [];
  const commands: string[] = [];
  const user = options.user ?? 'notifier';
  const password = options.password ?? 'sink-password';
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      logins.push(auth.username ?? '');
      if (auth.username === user && auth.password === password) callback(null, { user });
      else callback(Object.assign(new Error('Invalid credentials'), { responseCode: 535 }));
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const first = to[0] ?? '';
        const attempt = (attempts.get(first) ?? 0) + 1;
        attempts.set(first, attempt);
        const answer = options.answer?.(first, attempt) ?? { kind: 'accept' };
        void PostalMime.parse(Buffer.concat(chunks)).then((email) => {
          const mail: ReceivedMail = { to, email, accepted: false, receivedAt: Date.now() };
          if (answer.kind === 'stall') {
            received.push(mail);
            return; // never answered: the client times out or dies
          }
          if (answer.kind === 'reject') {
            callback(Object.assign(new Error(answer.message), { responseCode: answer.code }));
            return;
          }
          mail.accepted = true;
          received.push(mail);
          callback(null, 'queued');
        });
      });
    },
  });
  // A client killed mid-session surfaces as a socket error on the server; that is expected.
  server.on('error', () => {});
  // What clients send, as the wire carries it (no TLS here): the command word of each line.
  server.server.on('connection', (socket: Socket) => {
    socket.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('latin1').split('\r\n')) {
        const word = /^[A-Za-z]+/.exec(line)?.[0];
        if (word) commands.push(word.toUpperCase());
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${user}:${password}@127.0.0.1:${port}?starttls=optional`,
    defaultUrl: `smtp://${user}:${password}@127.0.0.1:${port}`,
    received,
    accepted: () => received.filter((m) => m.accepted),
    attemptsFor: (address) => attempts.get(address.toLowerCase()) ?? 0,
    logins,
    commands,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A filter for the mail about one approval (its action_id is in the subject). */
export const mailAbout = (actionId: string) => (mail: ReceivedMail) =>
  mail.email.subject?.includes(actionId) ?? false;

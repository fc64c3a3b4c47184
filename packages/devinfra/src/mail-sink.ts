import PostalMime from 'postal-mime';
import { SMTPServer } from 'smtp-server';
import { freePort } from './ports.js';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  raw: string;
}

export interface MailSinkOptions {
  port?: number;
  /**
   * Decides the answer to each message: return an SMTP code and text to refuse it (e.g.
   * 451 for a temporary failure, 550 for a permanent one), or nothing to accept it.
   */
  respond?: (
    mail: ReceivedMail,
  ) => { code: number; message: string } | undefined | Promise<{ code: number; message: string } | undefined>;
  onMail?: (mail: ReceivedMail) => void;
}

export interface MailSink {
  url: string;
  port: number;
  /** Accepted messages, in order. */
  received: ReceivedMail[];
  stop(): Promise<void>;
}

/**
 * An in-process SMTP server on loopback that parses what it receives: the dev run prints mail
 * from it, tests assert on it. No TLS and any login is accepted.
 */
export async function startMailSink(options: MailSinkOptions = {}): Promise<MailSink> {
  const port = options.port ?? (await freePort());
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    onAuth: (_auth, _session, callback) => callback(null, { user: 'dev' }),
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', async () => {
        try {
          const raw = Buffer.concat(chunks).toString('utf8');
          const parsed = await PostalMime.parse(raw);
          const mail: ReceivedMail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: parsed.html ?? '',
            headers: Object.fromEntries(parsed.headers.map((h) => [h.key, h.value])),
            raw,
          };
          const refusal = await options.respond?.(mail);
          if (refusal) {
            const err = Object.assign(new Error(refusal.message), { responseCode: refusal.code });
            return callback(err);
          }
          received.push(mail);
          options.onMail?.(mail);
          callback();
        } catch (err) {
          callback(err as Error);
        }
      });
    },
    logger: false,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  // smtp-server reports a client's socket errors on the server: a sender killed mid-session (the
  // fault suite SIGKILLs the notifier) resets its connection, and without a listener that
  // ECONNRESET would be an uncaught exception in whatever process runs the sink.
  server.on('error', () => {});
  return {
    // The sink has no TLS: plaintext is allowed explicitly (the notifier warns at start).
    url: `smtp://127.0.0.1:${port}?starttls=optional`,
    port,
    received,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

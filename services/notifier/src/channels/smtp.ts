import MailComposer from 'nodemailer/lib/mail-composer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Outcome } from '../outcome.js';
import type { Secret } from '../secret.js';

export interface MailMessage {
  from: { name: string; address: string };
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Stable per delivery: a resend (after `dlq replay`) is recognisable as the same message. */
  messageId: string;
  headers: Record<string, string>;
}

export interface SmtpSender {
  send(message: MailMessage): Promise<Outcome>;
}

interface SmtpEndpoint {
  host: string;
  port: number;
  secure: boolean;
  /** STARTTLS or nothing: never a plaintext session (the default of `smtp://`). */
  requireTls: boolean;
  auth?: { user: string; pass: string };
}

/**
 * `smtp://user:pass@host:587` requires STARTTLS: no message and no credentials go over a
 * connection that did not upgrade, even when an attacker on the path strips the server's
 * STARTTLS offer (`?starttls=required` says the same explicitly). `?starttls=optional` is the
 * explicit dev setting for a local sink without TLS: STARTTLS when offered, else plaintext (the
 * notifier warns at start). `smtps://user:pass@host:465` is TLS from the first byte.
 */
export function parseSmtpUrl(url: string): SmtpEndpoint {
  const parsed = new URL(url);
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new Error('SMTP_URL must start with smtp:// or smtps://');
  }
  const secure = parsed.protocol === 'smtps:';
  const options = [...parsed.searchParams.keys()];
  const starttls = parsed.searchParams.get('starttls');
  if (
    options.some((key) => key !== 'starttls') ||
    (starttls !== null && starttls !== 'required' && starttls !== 'optional')
  ) {
    throw new Error(
      'SMTP_URL takes one option: ?starttls=required (the default) or ?starttls=optional (dev only)',
    );
  }
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    requireTls: !secure && starttls !== 'optional',
    ...(parsed.username
      ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } }
      : {}),
  };
}

/**
 * Sends one message per SMTP session with nodemailer's connection class, rather than its
 * transport, because the transport cannot tell *when* a failure happened, and that decides
 * between retrying and risking a duplicate: before the message body has been handed over the
 * server cannot have accepted it (safe to retry); after, with no reply, it may have (unknown).
 */
export function createSmtpSender(url: Secret<string>, timeoutMs: number): SmtpSender {
  const endpoint = parseSmtpUrl(url.reveal());
  return createSmtpSenderFor(endpoint, timeoutMs);
}

/** True when the URL lets a session go on in plaintext (the dev `?starttls=optional`). */
export function allowsPlaintext(url: string): boolean {
  const endpoint = parseSmtpUrl(url);
  return !endpoint.secure && !endpoint.requireTls;
}

function createSmtpSenderFor(endpoint: SmtpEndpoint, timeoutMs: number): SmtpSender {
  return {
    async send(message) {
      const source = new MailComposer({
        from: message.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        messageId: message.messageId,
        headers: message.headers,
      })
        .compile()
        .createReadStream();
      let handedOver = false;
      source.once('end', () => {
        handedOver = true;
      });
      const connection = new SMTPConnection({
        host: endpoint.host,
        port: endpoint.port,
        secure: endpoint.secure,
        requireTLS: endpoint.requireTls,
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs,
        // nodemailer logs nothing unless given a logger; keep it that way (AUTH lines carry credentials).
        logger: false,
      });
      // The connection reports failures as 'error'/'end' events, not always through the pending
      // callback; every step races against them, and a listener must exist or Node throws.
      let fail: (err: unknown) => void = () => {};
      const failed = new Promise<never>((_, reject) => {
        fail = reject;
      });
      failed.catch(() => {});
      connection.on('error', (err) => fail(err));
      connection.on('end', () =>
        fail(Object.assign(new Error('connection closed'), { code: 'ECONNECTION' })),
      );
      const step = <T>(run: (resolve: (value: T) => void, reject: (err: unknown) => void) => void) =>
        Promise.race([new Promise<T>(run), failed]);
      // An idle timer does not bound a server that trickles bytes: a hard deadline does.
      const deadline = setTimeout(() => connection.close(), timeoutMs);
      try {
        await step<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve())));
        const auth = endpoint.auth;
        if (auth) {
          await step<void>((resolve, reject) =>
            connection.login({ user: auth.user, pass: auth.pass }, (err) => (err ? reject(err) : resolve())),
          );
        }
        const info = await step<SMTPConnection.SentMessageInfo>((resolve, reject) =>
          connection.send({ from: message.from.address, to: [message.to] }, source, (err, sent) =>
            err ? reject(err) : resolve(sent),
          ),
        );
        connection.quit();
        return { result: 'delivered', status: 250, detail: String(info.response ?? '').slice(0, 200) };
      } catch (err) {
        return classifySmtpError(err, handedOver);
      } finally {
        clearTimeout(deadline);
        connection.close();
        source.destroy();
      }
    },
  };
}

/**
 * SMTP reply codes decide: 4xx (451 greylisting, 421 busy) is temporary, 5xx (550 no such
 * user, 535 bad credentials) permanent. Without a reply: before the body was handed over
 * nothing was accepted, so retry; after, the outcome is unknown.
 */
export function classifySmtpError(err: unknown, bodyHandedOver: boolean): Outcome {
  const e = err as { responseCode?: number; code?: string; message?: string };
  const message = `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`.slice(0, 500);
  if (typeof e.responseCode === 'number') {
    if (e.responseCode >= 400 && e.responseCode < 500) {
      return { result: 'retry', error: message, status: e.responseCode };
    }
    return { result: 'failed', error: message, status: e.responseCode };
  }
  if (!bodyHandedOver) return { result: 'retry', error: message };
  return { result: 'unknown', error: `no reply after the message was sent (${message})` };
}

import { describe, expect, it } from 'vitest';
import { allowsPlaintext, classifySmtpError, parseSmtpUrl } from './smtp.js';

describe('SMTP outcome', () => {
  it('4xx is retried, 5xx is permanent, whenever the server answered', () => {
    expect(classifySmtpError({ responseCode: 451, message: 'greylisted' }, true)).toMatchObject({
      result: 'retry',
      status: 451,
    });
    expect(classifySmtpError({ responseCode: 421, message: 'busy' }, false).result).toBe('retry');
    expect(classifySmtpError({ responseCode: 550, message: 'no such user' }, true)).toMatchObject({
      result: 'failed',
      status: 550,
    });
    expect(classifySmtpError({ responseCode: 535, code: 'EAUTH', message: 'bad login' }, false).result).toBe(
      'failed',
    );
  });

  it('without an answer: retry before the message was handed over, unknown after', () => {
    const dropped = { code: 'ECONNECTION', message: 'connection closed' };
    expect(classifySmtpError(dropped, false).result).toBe('retry');
    expect(classifySmtpError(dropped, true).result).toBe('unknown');
  });

  it('parses SMTP URLs', () => {
    expect(parseSmtpUrl('smtp://user%40x:p%3Ass@mail.example:2525')).toEqual({
      host: 'mail.example',
      port: 2525,
      secure: false,
      requireTls: true,
      auth: { user: 'user@x', pass: 'p:ss' },
    });
    expect(parseSmtpUrl('smtps://mail.example')).toMatchObject({ port: 465, secure: true });
    expect(parseSmtpUrl('smtp://mail.example?starttls=required')).toMatchObject({
      port: 587,
      secure: false,
      requireTls: true,
    });
    // STARTTLS is required unless the URL says, explicitly, that plaintext is allowed (dev sinks).
    expect(parseSmtpUrl('smtp://mail.example').requireTls).toBe(true);
    expect(allowsPlaintext('smtp://mail.example')).toBe(false);
    expect(parseSmtpUrl('smtp://mail.example?starttls=optional').requireTls).toBe(false);
    expect(allowsPlaintext('smtp://mail.example?starttls=optional')).toBe(true);
    expect(allowsPlaintext('smtps://mail.example')).toBe(false);
    expect(() => parseSmtpUrl('smtp://mail.example?starttls=maybe')).toThrow(/starttls=required/);
    expect(() => parseSmtpUrl('smtp://mail.example?starttls=')).toThrow(/starttls=required/);
    expect(() => parseSmtpUrl('smtp://mail.example?tls=off')).toThrow(/starttls=required/);
    expect(() => parseSmtpUrl('http://mail.example')).toThrow(/smtp/);
  });
});

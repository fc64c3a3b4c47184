/**
 * Reading requests and writing responses: body size limit, content types, JSON and form bodies,
 * cookies, and the headers every response carries. Everything that can be refused is refused
 * with a CountersignError, so the server answers it in the contract's shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CountersignError, decodeJson } from '@countersign/contracts';
import type { SafeHtml } from './html.js';

/**
 * A refusal at the HTTP layer, before any command runs, whose status has no code of its own in
 * the contract (401, 405, 415): the body carries the nearest contract code.
 */
export class HttpRefusal extends CountersignError {
  readonly #status: number;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: CountersignError['code'],
    message: string,
    details?: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) {
    super(code, message, details);
    this.name = 'HttpRefusal';
    this.#status = status;
    this.headers = headers;
  }

  override get status(): number {
    return this.#status;
  }
}

/** 401: no credentials, or ones that are not (or no longer) configured. */
export function authenticationRequired(message = 'a valid bearer token is required'): HttpRefusal {
  return new HttpRefusal(
    401,
    'forbidden',
    message,
    { reason: 'unauthenticated' },
    {
      'WWW-Authenticate': 'Bearer realm="countersign"',
    },
  );
}

// Pages render only what this server sends: no inline script, no framing, no foreign hosts.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** Set on every response. The review link's token is in its URL: never send it on as a Referer. */
export function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export function sendErrorJson(res: ServerResponse, error: CountersignError): void {
  if (error instanceof HttpRefusal) for (const [k, v] of Object.entries(error.headers)) res.setHeader(k, v);
  // `internal` details stay in the log; the body says only that it failed.
  const body =
    error.code === 'internal' ? { error: { code: 'internal', message: 'internal error' } } : error.toBody();
  sendJson(res, error.status, body);
}

export function sendHtml(res: ServerResponse, status: number, page: SafeHtml): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(page.value));
  res.end(page.value);
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** 303 See Other: after a POST, the browser GETs the result (reloading never re-posts). */
export function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.statusCode = 303;
  res.setHeader('Location', location);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end();
}

function tooLarge(size: number | undefined, limit: number): CountersignError {
  return new CountersignError(
    'payload_too_large',
    `request body ${size === undefined ? 'exceeds' : `is ${size} bytes;`} the limit ${size === undefined ? 'of' : 'is'} ${limit} bytes`,
    { ...(size === undefined ? {} : { size }), limit },
  );
}

/**
 * The request body, at most `limit` bytes. A declared or actual larger body is refused without
 * reading the rest; the connection is then closed, since the unread bytes would otherwise be
 * taken for the next request.
 */
export async function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    const size = Number(declared);
    if (Number.isFinite(size) && size > limit) {
      res.setHeader('Connection', 'close');
      throw tooLarge(size, limit);
    }
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    total += buffer.byteLength;
    if (total > limit) {
      res.setHeader('Connection', 'close');
      throw tooLarge(undefined, limit);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** The media type of the request's Content-Type, lower case, without parameters. */
export function mediaType(req: IncomingMessage): string | undefined {
  const header = req.headers['content-type'];
  if (!header) return undefined;
  return header.split(';')[0]?.trim().toLowerCase() || undefined;
}

function unsupportedMediaType(expected: string, got: string | undefined): HttpRefusal {
  return new HttpRefusal(415, 'invalid_request', `Content-Type must be ${expected}`, {
    fields: [{ path: '(content-type)', message: `expected ${expected}, got ${got ?? 'none'}` }],
  });
}

/**
 * A JSON object body. An empty body is `{}` (argument-less commands need none); anything else
 * must say `application/json` and decode, within the limit, to an object.
 */
export async function readJsonObject(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
): Promise<Record<string, unknown>> {
  const body = await readBody(req, res, limit);
  if (body.byteLength === 0) return {};
  const type = mediaType(req);
  if (type !== 'application/json') throw unsupportedMediaType('application/json', type);
  const value = decodeJson(body, limit);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CountersignError('invalid_request', 'invalid request: the body must be a JSON object', {
      fields: [{ path: '(root)', message: 'expected an object' }],
    });
  }
  return value as Record<string, unknown>;
}

/** A form body, as browsers post it. */
export async function readForm(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
): Promise<URLSearchParams> {
  const body = await readBody(req, res, limit);
  const type = mediaType(req);
  if (type !== 'application/x-www-form-urlencoded') {
    throw unsupportedMediaType('application/x-www-form-urlencoded', type);
  }
  return new URLSearchParams(body.toString('utf8'));
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

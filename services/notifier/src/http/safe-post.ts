import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { nonPublicReason } from './address-policy.js';

export interface PostOptions {
  headers: Record<string, string>;
  /** Whole-attempt deadline: connect, send, and read the response. */
  timeoutMs: number;
  /** Permit http:// (tests, receivers on a trusted network). */
  allowHttp: boolean;
  /** Permit loopback, private, link-local and other non-public addresses. */
  allowPrivate: boolean;
}

export interface PostResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The first bytes of the body, for the attempt log. */
  body: string;
}

/** The URL or the address it resolves to is not allowed: a permanent failure, never retried. */
export class RequestRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequestRefused';
  }
}

export class RequestTimeout extends Error {
  constructor(ms: number) {
    super(`no complete response within ${ms} ms`);
    this.name = 'RequestTimeout';
  }
}

const MAX_BODY_BYTES = 16 * 1024;

/**
 * POSTs a body and returns the response without following redirects. The address check
 * happens inside the connection's own DNS lookup, so the address that was checked is the one
 * connected to: a name that resolves to a public address for a check and to 127.0.0.1 for the
 * connection (DNS rebinding) has no gap to slip through.
 */
export function safePost(url: string, body: string, options: PostOptions): Promise<PostResponse> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new RequestRefused('not a valid URL'));
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && options.allowHttp)) {
    return Promise.reject(
      new RequestRefused(`${parsed.protocol} URLs are not allowed (https only unless WEBHOOK_ALLOW_HTTP)`),
    );
  }
  const hostname = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowPrivate && isIP(hostname)) {
    const why = nonPublicReason(hostname);
    if (why) return Promise.reject(new RequestRefused(`address ${hostname} is ${why}`));
  }

  let refusal: RequestRefused | undefined;
  const lookup: LookupFunction = (host, lookupOptions, callback) => {
    dnsLookup(host, { all: true, family: lookupOptions.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      if (!options.allowPrivate) {
        // Refuse the name if any of its addresses is not public: mixed answers are a known trick.
        const bad = addresses.find((a) => nonPublicReason(a.address));
        if (bad || addresses.length === 0) {
          refusal = new RequestRefused(
            bad
              ? `${host} resolves to ${bad.address}, which is ${nonPublicReason(bad.address)}`
              : `${host} has no address`,
          );
          return callback(refusal, '', 0);
        }
      }
      if (lookupOptions.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0] as LookupAddress;
      return callback(null, first.address, first.family);
    });
  };

  const client = parsed.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      parsed,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup,
        // A fresh connection per attempt: a pooled socket would skip the lookup (and its check).
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          if (size < MAX_BODY_BYTES) chunks.push(chunk);
          size += chunk.length;
        });
        response.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8'),
          });
        });
        response.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => request.destroy(new RequestTimeout(options.timeoutMs)), options.timeoutMs);
    request.on('error', (err) => {
      clearTimeout(timer);
      reject(refusal ?? err);
    });
    request.end(body);
  });
}

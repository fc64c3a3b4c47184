/**
 * Sign-in attempts per client address: a token bucket each, in this process. Guessing API tokens
 * is hopeless anyway (at least 16 random characters), but an unlimited sign-in form is still an
 * invitation, and every OpenID start costs a round trip to the provider. A refusal is 429 with
 * Retry-After. Replicas count separately; a proxy in front should limit too.
 */
import type { IncomingMessage } from 'node:http';
import { HttpRefusal } from './io.js';

export interface RateLimitOptions {
  /** Attempts allowed per minute and per address (also the burst). */
  perMinute: number;
  /** Addresses remembered at most; the least recently seen are forgotten first. */
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class SignInLimiter {
  readonly #perMinute: number;
  readonly #maxClients: number;
  // A Map iterates in insertion order: re-inserting on use keeps the oldest first.
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    this.#perMinute = options.perMinute;
    this.#maxClients = options.maxClients ?? 10_000;
  }

  /** Takes one attempt for the request's address; throws 429 when it has none left. */
  take(req: IncomingMessage, now = Date.now()): void {
    const wait = this.tryTake(clientAddress(req), now);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new HttpRefusal(
        429,
        'unavailable',
        `too many sign-in attempts from this address; try again in ${seconds} s`,
        { reason: 'rate_limited', retry_after_seconds: seconds },
        { 'Retry-After': String(seconds) },
      );
    }
  }

  /** 0 when an attempt was taken, else the milliseconds until the next one is available. */
  tryTake(key: string, now = Date.now()): number {
    const rate = this.#perMinute / 60_000;
    const previous = this.#buckets.get(key);
    const bucket: Bucket = previous
      ? { tokens: Math.min(this.#perMinute, previous.tokens + (now - previous.at) * rate), at: now }
      : { tokens: this.#perMinute, at: now };
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#maxClients) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
  }
}

/**
 * The peer's address. Forwarded headers are not trusted: anyone can write them, and trusting
 * them would let one client pose as many.
 */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

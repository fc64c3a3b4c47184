/**
 * What PostgreSQL can store: the check that refuses text it cannot hold, and the cleaning an
 * invalid request's record gets before it is kept.
 */
import { CountersignError } from '@countersign/contracts';

/**
 * Postgres text and jsonb cannot hold U+0000, and jsonb refuses an unpaired UTF-16 surrogate
 * (JSON's "\ud800"), both of which JSON allows. Refusing them at the edge keeps a storage error
 * from turning a message into poison that is retried and then dead-lettered, its waiter never
 * answered.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what is looked for.
const UNSTORABLE = /\u0000|\p{Cs}/u;

export function containsUnstorable(value: unknown): boolean {
  if (typeof value === 'string') return UNSTORABLE.test(value);
  if (Array.isArray(value)) return value.some(containsUnstorable);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => UNSTORABLE.test(k) || containsUnstorable(v));
  }
  return false;
}

/** The value with U+0000 removed and unpaired surrogates replaced (U+FFFD): what an invalid request's record may keep. */
export function storable<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '').replace(/\p{Cs}/gu, '\ufffd') as T;
  if (Array.isArray(value)) return value.map(storable) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)])) as T;
  }
  return value;
}

export function unstorableError(): CountersignError {
  return new CountersignError(
    'invalid_request',
    'invalid request: strings must not contain NUL characters or unpaired surrogates',
    { fields: [{ path: '(root)', message: 'must not contain NUL (\\u0000) or unpaired UTF-16 surrogates' }] },
  );
}

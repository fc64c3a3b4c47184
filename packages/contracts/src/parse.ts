import type { z } from 'zod';
import { jsonDepth, MAX_JSON_DEPTH } from './depth.js';
import { CountersignError, type FieldIssue } from './errors.js';
import { MAX_PAYLOAD_BYTES } from './schemas.js';

/** Turns zod issues into `{path, message}` pairs a person can act on. */
export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.flatMap((issue) => {
    // An unrecognized key is reported on the object; name the key itself so the caller sees it.
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys.map((key) => ({
      path: [...issue.path, ...(key === undefined ? [] : [key])].map(String).join('.') || '(root)',
      message: issue.message,
    }));
  });
}

export function invalidRequest(error: z.ZodError): CountersignError {
  const fields = fieldIssues(error);
  const summary = fields
    .slice(0, 5)
    .map((f) => `${f.path}: ${f.message}`)
    .join('; ');
  return new CountersignError('invalid_request', `invalid request: ${summary}`, { fields });
}

/** Validates an already-decoded value; throws `invalid_request` naming every bad field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(result.error);
  return result.data;
}

/**
 * Decodes raw message bytes to JSON, refusing oversized, malformed and too deeply nested input
 * with a structured error. Empty input decodes to `{}` so argument-less commands work with `nats req subj ''`.
 */
export function decodeJson(data: Uint8Array | string, maxBytes = MAX_PAYLOAD_BYTES): unknown {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  if (size > maxBytes) {
    throw new CountersignError('payload_too_large', `payload is ${size} bytes; the limit is ${maxBytes}`, {
      size,
      limit: maxBytes,
    });
  }
  const text = typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: false }).decode(data);
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CountersignError('invalid_request', `payload is not valid JSON: ${(err as Error).message}`, {
      fields: [{ path: '(root)', message: 'not valid JSON' }],
    });
  }
  if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new CountersignError('invalid_request', `payload is nested deeper than ${MAX_JSON_DEPTH} levels`, {
      fields: [{ path: '(root)', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }],
    });
  }
  return value;
}

/** decodeJson + parseWith: the one way a service reads a request. */
export function decodeRequest<T extends z.ZodType>(
  schema: T,
  data: Uint8Array | string,
  maxBytes = MAX_PAYLOAD_BYTES,
): z.infer<T> {
  return parseWith(schema, decodeJson(data, maxBytes));
}

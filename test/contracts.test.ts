/**
 * The machine-readable contracts in docs/contracts/ (scripts/contracts.ts): checked in exactly as
 * generated from the zod schemas, valid for standard validators (ajv in strict 2020-12 mode, an
 * OpenAPI 3.1 validator), covering every API route, and true of real traffic: messages and HTTP
 * answers captured from the running services validate against them.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Headers as NatsHeaderNames, Streams, Subjects } from '@countersign/contracts';
import { REPO_ROOT } from '@countersign/devinfra';
import { waitUntil } from '@countersign/test-fixtures';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import {
  CONTRACTS_DIR,
  contractFiles,
  driftedFiles,
  OPENAPI_FILE,
  SCHEMA_DIR,
  WRITE_COMMAND,
} from '../scripts/contracts.js';
import { apiRoutes } from '../services/approval/src/http/api.js';
import type { HttpApp } from '../services/approval/src/http/app.js';
import { healthRoutes } from '../services/approval/src/http/health.js';
import { httpUrlOf, payment, startSystem } from './support.js';

// ajv-formats is CommonJS: its module object is the default import; the plugin is its `default`.
const addFormats = addFormatsModule.default;

const readJson = (path: string) => JSON.parse(readFileSync(join(REPO_ROOT, path), 'utf8'));

/** Strict ajv: unknown keywords, formats or ambiguous types in a schema are errors, not ignored. */
function strictAjv() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv;
}

const schemaNames = [...contractFiles().keys()]
  .filter((p) => p.startsWith(`${SCHEMA_DIR}/`) && !p.endsWith('/subjects.json'))
  .map((p) => p.slice(SCHEMA_DIR.length + 1, -'.json'.length));

const ajv = strictAjv();
for (const name of schemaNames) ajv.addSchema(readJson(`${SCHEMA_DIR}/${name}.json`), name);

/** Asserts `value` is valid for the schema file `name`, showing ajv's errors when not. */
function expectValid(name: string, value: unknown) {
  const validate = ajv.getSchema(name);
  if (!validate) throw new Error(`no schema ${name}`);
  const valid = validate(value);
  expect(validate.errors ?? [], `${name}: ${JSON.stringify(value).slice(0, 300)}`).toEqual([]);
  expect(valid).toBe(true);
}

describe('the generated files', () => {
  it('are exactly what the zod schemas generate (else run the write command)', () => {
    const drifted = driftedFiles();
    expect(drifted, `${CONTRACTS_DIR} is out of date with the zod schemas; run ${WRITE_COMMAND}`).toEqual([]);
  });

  it('compile in ajv strict mode (JSON Schema 2020-12), each with its own $id', () => {
    const ids = new Set<string>();
    for (const name of schemaNames) {
      const schema = readJson(`${SCHEMA_DIR}/${name}.json`);
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(ids.has(schema.$id)).toBe(false);
      ids.add(schema.$id);
      // A fresh instance per schema: compiling must succeed on its own, not thanks to the others.
      expect(() => strictAjv().compile(schema), name).not.toThrow();
    }
    const { subjects } = readJson(`${SCHEMA_DIR}/subjects.json`);
    const named = subjects.flatMap((s: Record<string, string>) =>
      [s.request, s.reply, s.event].filter(Boolean),
    );
    for (const file of named) expect(schemaNames).toContain(file.replace(/\.json$/, ''));
  });

  it('refuse what the contract refuses', () => {
    expect(
      ajv.validate('approval.decide.request', { action_id: 'a.b', approved: true, decided_by: 'x' }),
    ).toBe(false);
    expect(ajv.validate('approval.submit.request', { action_id: 'a', extra: 1 })).toBe(false);
    expect(ajv.validate('error', { error: { code: 'teapot', message: 'no' } })).toBe(false);
  });

  it('include an OpenAPI 3.1 document that a standard validator accepts', async () => {
    const validator = new Validator();
    const result = await validator.validate(readJson(OPENAPI_FILE));
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    for (const [name, schema] of Object.entries(readJson(OPENAPI_FILE).components.schemas)) {
      expect(() => strictAjv().compile(schema as object), name).not.toThrow();
    }
  });

  it('describe every route of the HTTP API, and no route it does not have', () => {
    // Only the routes' method and path are read: the handlers never run here.
    const app = { deps: {}, settings: { bodyLimit: 1, readyTimeoutMs: 1 } } as unknown as HttpApp;
    const served = [...apiRoutes(app), ...healthRoutes(app)]
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`)
      .sort();
    const documented = Object.entries(readJson(OPENAPI_FILE).paths as Record<string, object>)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k))
          .map((method) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
    expect(documented).toEqual(served);
  });
});

describe('real traffic', async () => {
  const token = randomBytes(24).toString('hex');
  const sys = await startSystem('contracts', {
    HTTP_PORT: '0',
    API_TOKENS: `${token}:dave`,
    REVIEW_LINK_SECRET: randomBytes(32).toString('base64url'),
  });
  const base = await waitUntil(() => httpUrlOf(sys.approval), { message: 'the HTTP address' });
  const openapi = readJson(OPENAPI_FILE);
  // Unique per run: with a shared nats-server the intake's de-duplication window outlives the database.
  const tag = Date.now().toString(36);

  /** A raw NATS request: the bytes as sent and as answered, no SDK in between. */
  const raw = async (subject: string, body: unknown) => {
    const reply = await sys.nc.request(subject, JSON.stringify(body), { timeout: 10_000 });
    return { json: reply.json<unknown>(), headers: reply.headers };
  };

  it('requests, replies, events and errors on NATS validate against their schemas', async () => {
    const request = payment(`contracts-${tag}`, 1500);
    expectValid('approval.submit.request', request);
    const submitted = await raw(`approval.submit.${request.requested_by}`, request);
    expectValid('approval.submit.reply', submitted.json);

    const evaluate = await raw('policy.evaluate', request);
    expectValid('policy.evaluate.reply', evaluate.json);
    expectValid('approval.get.reply', (await raw('approval.get', { action_id: request.action_id })).json);
    expectValid('approval.list.request', { limit: 2 });
    expectValid('approval.list.reply', (await raw('approval.list', { limit: 2 })).json);
    expectValid('approval.stats.reply', (await raw('approval.stats', {})).json);
    expectValid('policy.info.reply', (await raw('policy.info', {})).json);

    const decide = { action_id: request.action_id, approved: true, decided_by: 'frank' };
    expectValid('approval.decide.request', decide);
    expectValid('approval.decide.reply', (await raw('approval.decide.frank', decide)).json);

    // The events as stored in the stream, read back by subject.
    const events = await sys.jsm.streams.get(Streams.events);
    const pending = await waitUntil(() =>
      events.getMessage({ last_by_subj: Subjects.pending(request.action_id) }).catch(() => null),
    );
    expectValid('approval.pending.event', pending?.json());
    const decided = await waitUntil(() =>
      events.getMessage({ last_by_subj: Subjects.decided(request.action_id) }).catch(() => null),
    );
    expectValid('approval.decided.event', decided?.json());
    expect(() => expectValid('approval.pending.event', decided?.json())).toThrow();

    // An error reply: the body is error.json, the code is also in the header.
    const again = await raw('approval.decide.frank', decide);
    expect(again.headers?.get(NatsHeaderNames.serviceErrorCode)).toBe('409');
    expectValid('error', again.json);
  });

  /** The schema of an operation's response, following the document's `$ref`s. */
  const responseSchema = (path: string, method: string, status: string): object => {
    type Node = Record<string, unknown> & { $ref?: string };
    const deref = (node: Node): Node => {
      if (!node.$ref) return node;
      let target: unknown = openapi;
      for (const key of node.$ref.slice(2).split('/')) target = (target as Record<string, unknown>)[key];
      return deref(target as Node);
    };
    const response = deref(openapi.paths[path][method].responses[status]);
    const content = response.content as Record<string, { schema: Node }>;
    return deref((content['application/json'] as { schema: Node }).schema);
  };
  const expectResponse = (path: string, method: string, status: number, body: unknown) => {
    const validate = strictAjv().compile(responseSchema(path, method, String(status)));
    validate(body);
    expect(validate.errors ?? [], `${method} ${path} ${status}`).toEqual([]);
  };

  it('HTTP answers validate against their OpenAPI response schemas', async () => {
    const call = async (method: string, path: string, body?: unknown, auth = true) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(auth ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    };
    const { requested_by: _, ...request } = payment(`contracts-http-${tag}`, 1500);
    const submitted = await call('POST', '/api/v1/approvals', request);
    expect(submitted.status).toBe(200);
    expectResponse('/api/v1/approvals', 'post', 200, submitted.json);
    const got = await call('GET', `/api/v1/approvals/${request.action_id}`);
    expectResponse('/api/v1/approvals/{action_id}', 'get', 200, got.json);
    const evaluated = await call('POST', '/api/v1/policy/evaluate', request);
    expectResponse('/api/v1/policy/evaluate', 'post', 200, evaluated.json);
    const listed = await call('GET', '/api/v1/approvals?limit=1');
    expectResponse('/api/v1/approvals', 'get', 200, listed.json);
    const missing = await call('GET', '/api/v1/approvals/no-such-approval');
    expect(missing.status).toBe(404);
    expectResponse('/api/v1/approvals/{action_id}', 'get', 404, missing.json);
    const anonymous = await call('GET', '/api/v1/stats', undefined, false);
    expect(anonymous.status).toBe(401);
    expectResponse('/api/v1/stats', 'get', 401, anonymous.json);
    const bad = await call('POST', '/api/v1/policy/evaluate', { action_id: 'no spaces' });
    expect(bad.status).toBe(400);
    expectResponse('/api/v1/policy/evaluate', 'post', 400, bad.json);
  });
});

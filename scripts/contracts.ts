/**
 * The machine-readable contracts, generated from the zod schemas of packages/contracts: a JSON
 * Schema (draft 2020-12) for every NATS subject's request, reply and event, and an OpenAPI 3.1
 * document for the approval service's HTTP API. Teams that do not write TypeScript generate
 * their types from these, so they are checked in and must never drift from the schemas.
 *
 *   pnpm contracts            # list the files and whether each is up to date
 *   pnpm contracts --write    # rewrite docs/contracts/ from the schemas
 *   pnpm contracts --check    # exit 1 when docs/contracts/ differs (test/contracts.test.ts does too)
 *
 * Requests are described as senders write them (zod's input: a field with a default may be left
 * out); replies and events as services write them (zod's output: every defaulted field is there).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  ApprovalEvent,
  ApprovalRequest,
  CancelRequest,
  DecideRequest,
  DelegateRequest,
  Endpoints,
  ErrorBody,
  ErrorCodes,
  EvaluateRequest,
  InvalidMessageEvent,
  ReportRequest,
  Subjects,
  UndelegateRequest,
  WebhookBody,
} from '../packages/contracts/src/index.js';
import { MAX_REPLAY } from '../services/approval/src/http/events.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the generated files live, relative to the repository root. */
export const CONTRACTS_DIR = 'docs/contracts';
export const SCHEMA_DIR = `${CONTRACTS_DIR}/jsonschema`;
export const OPENAPI_FILE = `${CONTRACTS_DIR}/openapi.json`;
/** The command that rewrites them, named in the drift test's failure. */
export const WRITE_COMMAND = 'pnpm contracts --write';
/** `$id` prefix of every JSON Schema: a name, not a place to fetch from. */
export const ID_PREFIX = 'urn:countersign:jsonschema:';

type Io = 'input' | 'output';
type JsonSchema = Record<string, unknown>;

/** One zod schema as a JSON Schema 2020-12 document; a schema zod cannot express throws. */
function jsonSchema(schema: z.ZodType, io: Io): JsonSchema {
  return z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'throw',
    override: ({ zodSchema, jsonSchema: node }) => {
      // zod describes the output of a plain object as closed (it strips unknown keys), but
      // readers of replies and events must ignore fields they do not know: a new optional field
      // is added without a new version (docs/contract.md). Strict objects stay closed.
      const def = (zodSchema as unknown as { _zod: { def: { type: string; catchall?: unknown } } })._zod.def;
      if (io === 'output' && def.type === 'object' && !def.catchall && node.additionalProperties === false) {
        delete node.additionalProperties;
      }
      // A record keyed by an enum (`by_status`) requires every key but lists none under
      // `properties`; strict validators (ajv's strictRequired) refuse a required key they
      // cannot see defined. Name each one, with the record's value schema.
      const keys = (node.propertyNames as { enum?: string[] } | undefined)?.enum;
      const values = node.additionalProperties;
      if (keys && node.required && !node.properties && values) {
        node.properties = Object.fromEntries(keys.map((key) => [key, values]));
      }
    },
  }) as JsonSchema;
}

/** A standalone schema file: `$schema`, `$id`, `title` and `description` first, for readers. */
function schemaFile(name: string, title: string, description: string, schema: z.ZodType, io: Io): JsonSchema {
  const { $schema, ...body } = jsonSchema(schema, io);
  return { $schema, $id: `${ID_PREFIX}${name}`, title, description, ...body };
}

/** The event envelope of one subject family, its `type` pinned to that family's. */
function eventOf(type: 'approval.pending' | 'approval.decided') {
  return ApprovalEvent.extend({ type: z.literal(type) });
}

export interface SubjectEntry {
  subject: string;
  kind: 'command' | 'intake' | 'event';
  stream?: string;
  request?: string;
  reply?: string;
  event?: string;
}

/** Every JSON Schema file (name without `.json` -> document) and the subject catalog. */
export function jsonSchemas(): { files: Map<string, JsonSchema>; subjects: SubjectEntry[] } {
  const files = new Map<string, JsonSchema>();
  const subjects: SubjectEntry[] = [];
  const add = (name: string, title: string, description: string, schema: z.ZodType, io: Io) => {
    files.set(name, schemaFile(name, title, description, schema, io));
    return `${name}.json`;
  };

  add(
    'error',
    'ErrorBody',
    'Every structured error, on NATS (with the Nats-Service-Error and Nats-Service-Error-Code headers) and HTTP (the status is the code number).',
    ErrorBody,
    'output',
  );
  subjects.push({
    subject: Subjects.requested,
    kind: 'intake',
    stream: 'APPROVAL_REQUESTS',
    request: add(
      `${Subjects.requested}.request`,
      'ApprovalRequest',
      'An intake message, published to JetStream with the header Nats-Msg-Id set to its action_id.',
      ApprovalRequest,
      'input',
    ),
  });
  for (const spec of Object.values(Endpoints)) {
    subjects.push({
      subject: spec.subject,
      kind: 'command',
      request: add(
        `${spec.subject}.request`,
        `${spec.subject} request`,
        `The request of the ${spec.subject} command (NATS request/reply). An empty body counts as {}.`,
        spec.request,
        'input',
      ),
      reply: add(
        `${spec.subject}.reply`,
        `${spec.subject} reply`,
        `The reply of the ${spec.subject} command when it succeeds; a failure is an error.json body with the Nats-Service-Error-Code header.`,
        spec.response,
        'output',
      ),
    });
  }
  for (const type of ['approval.pending', 'approval.decided'] as const) {
    subjects.push({
      subject: `${type}.<action_id>`,
      kind: 'event',
      stream: 'APPROVAL_EVENTS',
      event: add(
        `${type}.event`,
        `${type} event`,
        `The envelope published on ${type}.<action_id>; Nats-Msg-Id is its id. Readers also accept an envelope without version (written before the field existed) as version 1, and refuse any other version.`,
        eventOf(type),
        'output',
      ),
    });
  }
  subjects.push({
    subject: Subjects.invalid,
    kind: 'event',
    stream: 'APPROVAL_EVENTS',
    event: add(
      `${Subjects.invalid}.event`,
      'InvalidMessageEvent',
      'An intake message that could not be addressed (no usable action_id).',
      InvalidMessageEvent,
      'output',
    ),
  });
  add(
    'webhook.body',
    'WebhookBody',
    'The body of a Standard Webhooks delivery; the webhook-id header is the event id.',
    WebhookBody,
    'output',
  );
  return { files, subjects };
}

// ---- OpenAPI ------------------------------------------------------------------------------

/** An OpenAPI Schema Object: JSON Schema 2020-12 without its own `$schema` (the document's dialect). */
function component(schema: z.ZodType, io: Io, description?: string): JsonSchema {
  const { $schema: _, ...body } = jsonSchema(schema, io);
  return description ? { description, ...body } : body;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });

/** Error responses by HTTP status: the contract's codes plus the HTTP layer's 401, 405 and 415. */
const ERROR_RESPONSES: Record<string, string> = {
  '400': 'invalid_request: malformed JSON, wrong types, missing or unknown fields (`details.fields`)',
  '401':
    'no valid bearer token: code `forbidden`, `details.reason: "unauthenticated"`, `WWW-Authenticate: Bearer`',
  '403': 'forbidden: `details.reasons` says why (e.g. `actor_mismatch`, self-approval, missing role)',
  '404': 'not_found: no such approval',
  '409': 'already_decided or idempotency_conflict',
  '410': 'expired: the approval expired undecided',
  '413': 'payload_too_large: the body is over the limit',
  '415': 'invalid_request: the body is not `application/json`',
  '500': 'internal: details are logged, not returned',
  '503': 'unavailable: a dependency (policy, database) is down, or too many open event streams; retry',
};

function errors(...statuses: string[]): Record<string, unknown> {
  return Object.fromEntries(statuses.map((s) => [s, { $ref: `#/components/responses/Error${s}` }]));
}

const ACTION_ID_PARAM = {
  name: 'action_id',
  in: 'path',
  required: true,
  description: "The approval's action_id.",
  schema: component(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/), 'input'),
};

/** A body sent to a command under /approvals/{action_id}: the id comes from the path, the actor from the token. */
function pathBody<S extends z.ZodObject>(schema: S, actor: string) {
  return schema.partial({ action_id: true, [actor]: true } as never);
}

const COMMON = ['400', '401', '413', '415', '500', '503'];

/** The OpenAPI 3.1 document of the HTTP API (`services/approval/src/http`). */
export function openApi(): JsonSchema {
  const listParams = (['status', 'run_id', 'action_type', 'requested_by', 'limit', 'cursor'] as const).map(
    (name) => {
      const shape = Endpoints.list.request.shape;
      const schema = component(shape[name], 'input');
      return { name, in: 'query', required: false, schema };
    },
  );
  const post = (
    operationId: string,
    summary: string,
    body: string | undefined,
    reply: string,
    statuses: string[],
    extra: Record<string, unknown> = {},
  ) => ({
    post: {
      operationId,
      summary,
      ...extra,
      ...(body ? { requestBody: { required: false, content: json(ref(body)) } } : {}),
      responses: { '200': { description: 'OK', content: json(ref(reply)) }, ...errors(...statuses) },
    },
  });
  const get = (
    operationId: string,
    summary: string,
    reply: unknown,
    statuses: string[],
    extra: Record<string, unknown> = {},
  ) => ({
    get: {
      operationId,
      summary,
      ...extra,
      responses: { '200': { description: 'OK', content: json(reply) }, ...errors(...statuses) },
    },
  });
  const ReadyCheck = z.object({
    ok: z.boolean(),
    ms: z.number(),
    error: z.string().optional(),
    revision: z.string().optional(),
  });

  return {
    openapi: '3.1.1',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Countersign approval service HTTP API',
      version: '1',
      description:
        'The NATS commands over HTTP: the same bodies, records and error codes (see docs/contract.md). The bearer token names who acts: actor fields (requested_by, decided_by, cancelled_by, reported_by, delegator, revoked_by) may be left out and, when sent, must equal that identity (else 403, reason actor_mismatch). Generated from the zod schemas by scripts/contracts.ts.',
    },
    servers: [{ url: 'http://127.0.0.1:8080', description: 'the dev run (scripts/run.sh)' }],
    security: [{ bearer: [] }],
    paths: {
      '/api/v1/approvals': {
        ...post('submitApproval', 'Submit an approval request (approval.submit)', 'SubmitBody', 'Approval', [
          ...COMMON,
          '403',
          '409',
        ]),
        ...get(
          'listApprovals',
          'List approvals, newest first, in keyset pages (approval.list)',
          ref('ListResponse'),
          ['400', '401', '500', '503'],
          { parameters: listParams },
        ),
      },
      '/api/v1/approvals/cleanup': post(
        'cleanupApprovals',
        'Expire every overdue approval now',
        undefined,
        'CleanupResponse',
        ['401', '500', '503'],
      ),
      '/api/v1/approvals/export': {
        get: {
          operationId: 'exportApprovals',
          summary:
            'Every approval the list filters select, with its audit history, streamed as CSV or JSON Lines',
          description:
            'All pages of the filtered list (no cursor or limit). CSV: one row per audit event, the approval columns repeated, RFC 4180 quoting, CRLF lines, and fields starting with =, +, -, @, tab or carriage return prefixed with a single quote (spreadsheet formula injection). JSON Lines: one ApprovalWithHistory per line. Once streaming has begun, a failure cuts the stream.',
          parameters: [
            ...listParams.filter((p: { name: string }) => p.name !== 'limit' && p.name !== 'cursor'),
            {
              name: 'format',
              in: 'query',
              required: false,
              schema: { type: 'string', enum: ['csv', 'jsonl'], default: 'csv' },
            },
          ],
          responses: {
            '200': {
              description: 'The export, as an attachment',
              content: {
                'text/csv': { schema: { type: 'string' } },
                'application/x-ndjson': {
                  schema: {
                    type: 'string',
                    description:
                      'One ApprovalWithHistory (#/components/schemas/ApprovalWithHistory) per line.',
                  },
                },
              },
            },
            ...errors('400', '401', '500', '503'),
          },
        },
      },
      '/api/v1/approvals/{action_id}': {
        parameters: [ACTION_ID_PARAM],
        ...get(
          'getApproval',
          'An approval with its audit history (approval.get)',
          ref('ApprovalWithHistory'),
          ['400', '401', '404', '500', '503'],
        ),
      },
      '/api/v1/approvals/{action_id}/decide': {
        parameters: [ACTION_ID_PARAM],
        ...post(
          'decideApproval',
          'Vote on an approval as the token identity (approval.decide)',
          'DecideBody',
          'Approval',
          [...COMMON, '403', '404', '409', '410'],
        ),
      },
      '/api/v1/approvals/{action_id}/cancel': {
        parameters: [ACTION_ID_PARAM],
        ...post('cancelApproval', 'Cancel a pending approval (approval.cancel)', 'CancelBody', 'Approval', [
          ...COMMON,
          '403',
          '404',
          '409',
          '410',
        ]),
      },
      '/api/v1/approvals/{action_id}/report': {
        parameters: [ACTION_ID_PARAM],
        ...post(
          'reportExecution',
          'Record whether an approved action ran (approval.report)',
          'ReportBody',
          'Approval',
          [...COMMON, '403', '404', '409'],
        ),
      },
      '/api/v1/delegations': {
        ...post(
          'delegate',
          'Hand the token identity’s approvals to another person for a period (approval.delegate)',
          'DelegateBody',
          'Delegation',
          [...COMMON, '403'],
        ),
        ...get(
          'listDelegations',
          'Delegations given or received by a person, newest first (approval.delegations)',
          ref('ListDelegationsResponse'),
          ['400', '401', '500', '503'],
          {
            parameters: [
              { name: 'person', in: 'query', required: false, schema: { type: 'string' } },
              {
                name: 'active',
                in: 'query',
                required: false,
                schema: { type: 'string', enum: ['true', 'false'] },
              },
            ],
          },
        ),
      },
      '/api/v1/delegations/{id}/revoke': {
        parameters: [
          {
            name: 'id',
            in: 'path',
            required: true,
            description: 'The delegation id.',
            schema: { type: 'string', format: 'uuid' },
          },
        ],
        ...post(
          'undelegate',
          'End a delegation the token identity gave or received (approval.undelegate)',
          'UndelegateBody',
          'Delegation',
          [...COMMON, '404', '409'],
        ),
      },
      '/api/v1/stats': get(
        'approvalStats',
        'Counts by status and decision times (approval.stats)',
        ref('StatsResponse'),
        ['401', '500', '503'],
      ),
      '/api/v1/policy/evaluate': post(
        'evaluatePolicy',
        'What the policy would decide for a request, and why; nothing is stored (policy.evaluate)',
        'EvaluateBody',
        'PolicyDecision',
        [...COMMON, '403'],
      ),
      '/api/v1/events': {
        get: {
          operationId: 'streamEvents',
          summary: 'Server-sent events: approval.pending and approval.decided as they are published',
          description: `Each message is \`id: <stream sequence>\`, \`event: approval.pending | approval.decided\`, \`data: <the event envelope, one line of JSON>\`. A client that reconnects with \`Last-Event-ID\` gets the events published after that sequence first, then the live ones, with no gap and no duplicate. When it cannot resume (the id is ahead of the stream: \`unknown\`; events after it were removed: \`too_old\`; more than ${MAX_REPLAY} sequences behind: \`too_many\`), the stream starts with \`event: reset\`, data \`{"reason", "last_event_id"}\`: reload the state, then follow the live events. A malformed id is a 400 naming the header. Comment lines (\`: heartbeat\`) keep idle connections open. The dashboard session cookie is accepted here too (EventSource cannot send headers).`,
          security: [{ bearer: [] }, { session: [] }],
          parameters: [
            {
              name: 'Last-Event-ID',
              in: 'header',
              required: false,
              description: 'The `id` of the last message received: a stream sequence (digits).',
              schema: { type: 'string', pattern: '^[0-9]{1,16}$' },
            },
          ],
          responses: {
            '200': {
              description: 'An event stream that lasts until the client leaves or the server stops.',
              content: {
                'text/event-stream': {
                  schema: {
                    type: 'string',
                    description:
                      'The `data:` of each event message is an ApprovalEvent (#/components/schemas/ApprovalEvent).',
                  },
                },
              },
            },
            ...errors('400', '401', '500', '503'),
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'healthz',
          summary: 'Liveness: the process answers',
          security: [],
          responses: {
            '200': {
              description: 'OK',
              content: json(component(z.object({ status: z.literal('ok') }), 'output')),
            },
          },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary:
            'Readiness: PostgreSQL, NATS and the policy service answer, and the server is not draining',
          security: [],
          responses: Object.fromEntries(
            (['200', '503'] as const).map((status) => [
              status,
              {
                description: status === '200' ? 'ready' : 'not ready, or draining',
                content: json(
                  component(
                    z.object({
                      status: z.enum(['ready', 'not_ready', 'draining']),
                      checks: z
                        .object({ postgres: ReadyCheck, nats: ReadyCheck, policy: ReadyCheck })
                        .optional(),
                    }),
                    'output',
                  ),
                ),
              },
            ]),
          ),
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics (text exposition format)',
          security: [],
          responses: {
            '200': { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } },
          },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API_TOKENS token; it acts as the identity configured for it.',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'countersign_session',
          description: 'The dashboard session cookie (only GET /api/v1/events accepts it).',
        },
      },
      schemas: {
        SubmitBody: component(
          ApprovalRequest.partial({ requested_by: true }),
          'input',
          'ApprovalRequest; requested_by is the token identity.',
        ),
        EvaluateBody: component(
          EvaluateRequest.partial({ requested_by: true }),
          'input',
          'ApprovalRequest (as policy.evaluate takes it); requested_by is the token identity.',
        ),
        DecideBody: component(pathBody(DecideRequest, 'decided_by'), 'input'),
        CancelBody: component(pathBody(CancelRequest, 'cancelled_by'), 'input'),
        ReportBody: component(pathBody(ReportRequest, 'reported_by'), 'input'),
        DelegateBody: component(
          DelegateRequest,
          'input',
          'DelegateRequest; delegator is the token identity.',
        ),
        UndelegateBody: component(
          UndelegateRequest.partial({ id: true }),
          'input',
          'UndelegateRequest; the id comes from the path, revoked_by is the token identity.',
        ),
        Delegation: component(Endpoints.delegate.response, 'output'),
        ListDelegationsResponse: component(Endpoints.delegations.response, 'output'),
        Approval: component(Endpoints.submit.response, 'output'),
        ApprovalWithHistory: component(Endpoints.get.response, 'output'),
        ListResponse: component(Endpoints.list.response, 'output'),
        StatsResponse: component(Endpoints.stats.response, 'output'),
        PolicyDecision: component(Endpoints.evaluate.response, 'output'),
        CleanupResponse: component(z.object({ expired: z.number().int().min(0) }), 'output'),
        ApprovalEvent: component(ApprovalEvent, 'output'),
        ErrorBody: component(ErrorBody, 'output'),
      },
      responses: Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([status, description]) => [
          `Error${status}`,
          { description, content: json(ref('ErrorBody')) },
        ]),
      ),
    },
  };
}

// ---- files --------------------------------------------------------------------------------

const text = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Every generated file: path relative to the repository root -> its text. */
export function contractFiles(): Map<string, string> {
  const { files, subjects } = jsonSchemas();
  const out = new Map<string, string>();
  for (const [name, schema] of files) out.set(`${SCHEMA_DIR}/${name}.json`, text(schema));
  out.set(
    `${SCHEMA_DIR}/subjects.json`,
    text({
      description: `Which schema each NATS subject carries (files beside this one). Generated by scripts/contracts.ts; errors are error.json with the status codes ${JSON.stringify(ErrorCodes)}.`,
      subjects,
    }),
  );
  out.set(OPENAPI_FILE, text(openApi()));
  return out;
}

/** Files that differ from the checked-in ones, are missing, or are checked in but no longer generated. */
export function driftedFiles(root = ROOT): string[] {
  const expected = contractFiles();
  const drifted: string[] = [];
  for (const [path, content] of expected) {
    const file = join(root, path);
    if (!existsSync(file) || readFileSync(file, 'utf8') !== content) drifted.push(path);
  }
  for (const dir of [CONTRACTS_DIR, SCHEMA_DIR]) {
    if (!existsSync(join(root, dir))) continue;
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isFile() && entry.name.endsWith('.json') && !expected.has(path)) drifted.push(path);
    }
  }
  return drifted;
}

function write(root = ROOT): void {
  const expected = contractFiles();
  for (const path of driftedFiles(root)) {
    const content = expected.get(path);
    if (content === undefined) {
      rmSync(join(root, path));
      console.log(`removed ${path}`);
    } else {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
      console.log(`wrote ${path}`);
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--write')) {
    write();
  } else if (process.argv.includes('--check')) {
    const drifted = driftedFiles();
    if (drifted.length > 0) {
      console.error(`out of date with the zod schemas: ${drifted.join(', ')}; run ${WRITE_COMMAND}`);
      process.exit(1);
    }
    console.log(`${CONTRACTS_DIR}: up to date`);
  } else {
    const drifted = new Set(driftedFiles());
    for (const path of contractFiles().keys())
      console.log(`${drifted.has(path) ? 'out of date' : 'ok         '} ${path}`);
  }
}

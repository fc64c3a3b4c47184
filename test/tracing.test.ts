/**
 * One approval is one trace: the requester's SDK, the intake, the policy, the database, the
 * decision, the outbox relay, the waiter's wake-up and the notifier's webhook delivery, checked
 * span by span (names, services, parentage) in a real collector (Jaeger, built by
 * scripts/install-tools.sh), and handed on to a real webhook receiver as `traceparent`. The
 * trace is kept under .artifacts/ as JSON and as a screenshot of its waterfall.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CountersignClient } from '@countersign/client';
import { Endpoints, Subjects } from '@countersign/contracts';
import { startTracing, withSpan } from '@countersign/runtime';
import {
  type JaegerSpan,
  type JaegerTrace,
  spawnService,
  useJaeger,
  waitUntil,
} from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { launchChromium, SCREENSHOTS } from '../services/approval/test/chromium.js';
import { startReceiver } from '../services/notifier/test/helpers/receiver.js';
import { httpUrlOf, payment, startSystem } from './support.js';

const jaeger = await useJaeger();
const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint };
const token = randomBytes(24).toString('hex');
const system = await startSystem(
  'tracing',
  { HTTP_PORT: '0', API_TOKENS: `${token}:frank`, REVIEW_LINK_SECRET: randomBytes(32).toString('base64url') },
  otel,
);
const api = await waitUntil(() => httpUrlOf(system.approval), { message: 'the HTTP address' });
const receiver = await startReceiver(() => ({ status: 204 }));
afterAll(() => receiver.close());

const channels = join(mkdtempSync(join(tmpdir(), 'tracing-test-')), 'channels.yaml');
writeFileSync(
  channels,
  stringify({
    channels: [{ name: 'hook', type: 'webhook', url: receiver.url, secret_env: 'WEBHOOK_SECRET' }],
  }),
);
await spawnService('notifier', {
  env: {
    ...system.env,
    NOTIFIER_CONFIG: channels,
    PUBLIC_URL: 'https://countersign.test',
    REVIEW_LINK_SECRET: 'review-link-secret-for-tests-0123456789abcdef',
    WEBHOOK_SECRET: `whsec_${Buffer.from('test-webhook-signing-key-24b').toString('base64')}`,
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    NOTIFIER_POLL_INTERVAL: '100ms',
    NOTIFIER_RETRY_SCHEDULE: '0,50ms,100ms',
  },
});

// This process is the requester application: it traces, and the SDK's spans join its trace.
const tracing = await startTracing({ endpoint: jaeger.otlpEndpoint, serviceName: 'requester' }, 'requester');
afterAll(() => tracing.stop());

const nc = await system.nats.connect('ops');
afterAll(() => nc.drain());
const client = new CountersignClient(nc, { timeout: 10_000 });

const ARTIFACTS = join(SCREENSHOTS, '..', 'traces');
// Launched at file level: it registers its own cleanup, which a test body cannot.
const browser = await launchChromium();

describe('tracing', () => {
  it('follows one approval from the SDK request to the wake-up and the webhook in one trace', async () => {
    const actionId = `traced-${Date.now().toString(36)}`;
    let traceId = '';
    // The application's own operation: the SDK's request is its child.
    const decided = withSpan('requester pays an invoice', {}, async (span) => {
      traceId = span?.spanContext().traceId ?? '';
      return client.requestAndWait(payment(actionId, 1500));
    });
    await waitUntil(async () => (await client.get(actionId).catch(() => undefined))?.status === 'pending', {
      timeout: 20_000,
    });
    // The decider acts in a trace of its own; the decision links to it.
    await client.decide({ action_id: actionId, approved: true, decided_by: 'frank', reason: 'ok' });
    expect(await decided).toMatchObject({ status: 'approved', decided_by: 'frank' });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    // The webhook receiver got the decided event with a traceparent of this very trace.
    const hook = await waitUntil(
      () =>
        receiver.requests.find((r) => (JSON.parse(r.body) as { type: string }).type === 'approval.decided'),
      { timeout: 20_000 },
    );
    const traceparent = String(hook.headers.traceparent ?? '');
    const [, hookTrace, hookParent] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(traceparent) ?? [];
    expect(hookTrace).toBe(traceId);

    const expected: [service: string, name: string][] = [
      ['requester', 'requester pays an invoice'],
      ['requester', 'countersign request and wait'],
      ['requester', `${Subjects.requested} send`],
      ['requester', 'countersign wait'],
      ['requester', 'countersign decision received'],
      ['approval', `${Subjects.requested} process`],
      ['policy', Endpoints.evaluate.subject],
      ['policy', 'policy evaluation'],
      ['approval', 'approval submission write'],
      ['approval', 'approval approved'],
      ['approval', 'approval.pending publish'],
      ['approval', 'approval.decided publish'],
      ['notifier', 'notifier deliver webhook'],
    ];
    let trace: JaegerTrace | undefined;
    await waitUntil(
      async () => {
        trace = await jaeger.trace(traceId);
        return (
          trace !== undefined && expected.every(([service, name]) => spansOf(trace, service, name).length > 0)
        );
      },
      { timeout: 30_000, message: `every expected span in trace ${traceId}` },
    );
    const t = trace as JaegerTrace;
    keep(t);
    await screenshot(t);

    const one = (service: string, name: string) => {
      const found = spansOf(t, service, name);
      expect(found, `${service}: ${name}`).toHaveLength(1);
      return found[0] as JaegerSpan;
    };
    const parentOf = (span: JaegerSpan) => span.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

    const root = one('requester', 'requester pays an invoice');
    const requestAndWait = one('requester', 'countersign request and wait');
    const send = one('requester', `${Subjects.requested} send`);
    const intake = one('approval', `${Subjects.requested} process`);
    const policyServer = one('policy', Endpoints.evaluate.subject);
    const evaluation = one('policy', 'policy evaluation');
    const write = one('approval', 'approval submission write');
    const decision = one('approval', 'approval approved');
    const pendingPublish = one('approval', 'approval.pending publish');
    const decidedPublish = one('approval', 'approval.decided publish');
    const wakeUp = one('requester', 'countersign decision received');
    const wait = one('requester', 'countersign wait');
    const deliveries = spansOf(t, 'notifier', 'notifier deliver webhook');

    expect(parentOf(requestAndWait)).toBe(root.spanID);
    expect(parentOf(send)).toBe(requestAndWait.spanID);
    expect(parentOf(wait)).toBe(requestAndWait.spanID);
    // Across NATS: the intake message carries the SDK's context.
    expect(parentOf(intake)).toBe(send.spanID);
    // The policy request from the intake, and the Rego evaluation inside it.
    expect(parentOf(policyServer)).toBe(intake.spanID);
    expect(parentOf(evaluation)).toBe(policyServer.spanID);
    // The batch's database transaction.
    expect(parentOf(write)).toBe(intake.spanID);
    expect(tagOf(write, 'db.system.name')).toBe('postgresql');
    // The pending event, published from the outbox row written by the intake.
    expect(parentOf(pendingPublish)).toBe(intake.spanID);
    // The decision, made later by someone else, continues the approval's trace and links to
    // the decider's command (a trace of its own).
    expect(parentOf(decision)).toBe(intake.spanID);
    expect(decision.references.some((r) => r.traceID !== traceId)).toBe(true);
    expect(tagOf(decision, 'countersign.decided_by')).toBe('frank');
    // The outbox row of the decision, restored by the relay, and the waiter woken by it.
    expect(parentOf(decidedPublish)).toBe(decision.spanID);
    expect(parentOf(wakeUp)).toBe(decidedPublish.spanID);
    // The notifier delivered both events in the trace, and the webhook's traceparent names the
    // delivery span of the decided event as its parent.
    expect(deliveries.map(parentOf).sort()).toEqual([pendingPublish.spanID, decidedPublish.spanID].sort());
    const decidedDelivery = deliveries.find((d) => parentOf(d) === decidedPublish.spanID) as JaegerSpan;
    expect(hookParent).toBe(decidedDelivery.spanID);
    expect(tagOf(decidedDelivery, 'countersign.outcome')).toBe('delivered');
  });
});

describe('tracing over HTTP', () => {
  it("puts a decision made through the API in its caller's trace and links the approval's to it", async () => {
    const actionId = `traced-http-${Date.now().toString(36)}`;
    const { approval_trace } = await withSpan('requester files', {}, async (span) => {
      await client.request(payment(actionId, 1500));
      return { approval_trace: span?.spanContext().traceId ?? '' };
    });
    await waitUntil(async () => (await client.get(actionId).catch(() => undefined))?.status === 'pending', {
      timeout: 20_000,
    });
    // The decider's tool traces too, and sends its context with the HTTP request.
    const deciderTrace = randomBytes(16).toString('hex');
    const deciderSpan = randomBytes(8).toString('hex');
    const response = await fetch(`${api}/api/v1/approvals/${actionId}/decide`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        traceparent: `00-${deciderTrace}-${deciderSpan}-01`,
      },
      body: JSON.stringify({ action_id: actionId, approved: true, reason: 'looks right' }),
    });
    expect(response.status).toBe(200);

    const route = 'POST /api/v1/approvals/:action_id/decide';
    const decider = await waitUntil(async () => {
      const trace = await jaeger.trace(deciderTrace);
      return spansOf(trace, 'approval', route).length > 0 ? trace : undefined;
    });
    const server = spansOf(decider, 'approval', route)[0] as JaegerSpan;
    expect(server.references.find((r) => r.refType === 'CHILD_OF')?.spanID).toBe(deciderSpan);
    expect(tagOf(server, 'http.route')).toBe('/api/v1/approvals/:action_id/decide');

    const approvalTrace = await waitUntil(async () => {
      const trace = await jaeger.trace(approval_trace);
      return spansOf(trace, 'approval', 'approval.decided publish').length > 0 ? trace : undefined;
    });
    const decision = spansOf(approvalTrace, 'approval', 'approval approved')[0] as JaegerSpan;
    // The link: from the approval's trace to the decider's (its transaction, under the request).
    const link = decision.references.find((r) => r.traceID === deciderTrace);
    expect(link).toBeDefined();
    const linked = decider?.spans.find((s) => s.spanID === link?.spanID);
    expect(linked?.operationName).toBe('approval pending approval update');
    expect(linked?.references.find((r) => r.refType === 'CHILD_OF')?.spanID).toBe(server.spanID);
  });
});

function spansOf(trace: JaegerTrace | undefined, service: string, name: string): JaegerSpan[] {
  if (!trace) return [];
  return trace.spans.filter(
    (s) => s.operationName === name && trace.processes[s.processID]?.serviceName === service,
  );
}

function tagOf(span: JaegerSpan, key: string): unknown {
  return span.tags.find((tag) => tag.key === key)?.value;
}

/** The trace as the collector returned it, kept as a test artifact. */
function keep(trace: JaegerTrace): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'one-approval.json'), `${JSON.stringify(trace, null, 2)}\n`);
}

/**
 * A screenshot of the trace's waterfall. The Jaeger binary built from source carries no UI
 * assets, so the page is drawn here from the collector's answer: one bar per span, indented by
 * parentage, coloured by service.
 */
async function screenshot(trace: JaegerTrace): Promise<void> {
  const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
  const depth = (s: JaegerSpan): number => {
    const parent = s.references.find((r) => r.refType === 'CHILD_OF' && byId.has(r.spanID));
    return parent ? 1 + depth(byId.get(parent.spanID) as JaegerSpan) : 0;
  };
  const start = Math.min(...trace.spans.map((s) => s.startTime));
  const end = Math.max(...trace.spans.map((s) => s.startTime + s.duration));
  const colours: Record<string, string> = {
    requester: '#4c78a8',
    approval: '#f58518',
    policy: '#54a24b',
    notifier: '#b279a2',
  };
  const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const rows = [...trace.spans]
    .sort((a, b) => a.startTime - b.startTime)
    .map((s) => {
      const service = trace.processes[s.processID]?.serviceName ?? '?';
      const left = ((s.startTime - start) / (end - start)) * 100;
      const width = Math.max((s.duration / (end - start)) * 100, 0.3);
      return `<tr><td style="padding-left:${depth(s) * 14}px">${escapeHtml(service)}: ${escapeHtml(s.operationName)}</td>
        <td class="lane"><div class="bar" style="left:${left}%;width:${width}%;background:${colours[service] ?? '#888'}"></div></td>
        <td class="ms">${(s.duration / 1000).toFixed(1)} ms</td></tr>`;
    })
    .join('\n');
  const html = `<!doctype html><meta charset="utf-8"><style>
    body{font:13px system-ui,sans-serif;margin:16px} table{width:100%;border-collapse:collapse}
    td{padding:3px 6px;border-bottom:1px solid #eee;white-space:nowrap} .lane{width:55%;position:relative}
    .bar{position:absolute;top:5px;height:12px;border-radius:2px} .ms{text-align:right;color:#555}
  </style><h3>Trace ${trace.traceID}: one approval, ${trace.spans.length} spans, ${((end - start) / 1000).toFixed(0)} ms</h3>
  <table>${rows}</table>`;
  const page = await browser.newPage();
  await page.setContent(html);
  await page.screenshot({ path: join(SCREENSHOTS, 'trace-one-approval.png'), fullPage: true });
  await page.close();
}

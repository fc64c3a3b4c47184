import type { z } from 'zod';
import * as s from './schemas.js';

/** Stream names. Events use one subject per approval so last-per-subject reads the latest state. */
export const Streams = {
  requests: 'APPROVAL_REQUESTS',
  events: 'APPROVAL_EVENTS',
} as const;

export const Subjects = {
  requested: 'approval.requested',
  invalid: 'approval.invalid',
  pendingAll: 'approval.pending.>',
  decidedAll: 'approval.decided.>',
  pending: (actionId: string) => `approval.pending.${actionId}`,
  decided: (actionId: string) => `approval.decided.${actionId}`,
} as const;

/** Services-framework names, as `nats micro ls` shows them. */
export const ServiceNames = { approval: 'approval', policy: 'policy' } as const;

interface EndpointSpec<Req extends z.ZodType, Res extends z.ZodType> {
  /** Endpoint name inside its service. */
  name: string;
  subject: string;
  request: Req;
  response: Res;
}

function endpoint<Req extends z.ZodType, Res extends z.ZodType>(
  name: string,
  subject: string,
  request: Req,
  response: Res,
): EndpointSpec<Req, Res> {
  return { name, subject, request, response };
}

/** Every request/reply command: subject, request schema and reply schema together. */
export const Endpoints = {
  submit: endpoint('submit', 'approval.submit', s.ApprovalRequest, s.Approval),
  decide: endpoint('decide', 'approval.decide', s.DecideRequest, s.Approval),
  cancel: endpoint('cancel', 'approval.cancel', s.CancelRequest, s.Approval),
  get: endpoint('get', 'approval.get', s.GetRequest, s.ApprovalWithHistory),
  list: endpoint('list', 'approval.list', s.ListRequest, s.ListResponse),
  stats: endpoint('stats', 'approval.stats', s.StatsRequest, s.StatsResponse),
  report: endpoint('report', 'approval.report', s.ReportRequest, s.Approval),
  evaluate: endpoint('evaluate', 'policy.evaluate', s.EvaluateRequest, s.PolicyDecision),
  authorize: endpoint('authorize', 'policy.authorize', s.AuthorizeRequest, s.AuthorizeResponse),
  policyInfo: endpoint('info', 'policy.info', s.PolicyInfoRequest, s.PolicyInfo),
} as const;

export type EndpointName = keyof typeof Endpoints;
export type RequestOf<E extends EndpointName> = z.input<(typeof Endpoints)[E]['request']>;
export type ParsedRequestOf<E extends EndpointName> = z.infer<(typeof Endpoints)[E]['request']>;
export type ResponseOf<E extends EndpointName> = z.infer<(typeof Endpoints)[E]['response']>;

/** Headers this contract uses. */
export const Headers = {
  msgId: 'Nats-Msg-Id',
  serviceError: 'Nats-Service-Error',
  serviceErrorCode: 'Nats-Service-Error-Code',
} as const;

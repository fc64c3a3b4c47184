/**
 * Export of a filtered list of approvals with their audit history, for auditors and
 * spreadsheets: CSV (one row per audit event, the approval's columns repeated) or JSON Lines (one
 * approval per line, its history inside). Streamed page by page (keyset pages of the list
 * query), so an export of a year holds one page in memory and the first bytes leave at once.
 */
import type { ServerResponse } from 'node:http';
import { type ApprovalWithHistory, CountersignError, type ListRequest } from '@countersign/contracts';
import type pg from 'pg';
import { getApproval, listApprovals } from '../queries.js';

export type ExportFormat = 'csv' | 'jsonl';

/** The `format` parameter: csv (the default) or jsonl; anything else is invalid_request. */
export function exportFormat(value: string | null): ExportFormat {
  if (value === null || value === 'csv') return 'csv';
  if (value === 'jsonl') return 'jsonl';
  throw new CountersignError('invalid_request', 'invalid request: format must be csv or jsonl', {
    fields: [{ path: 'format', message: 'csv or jsonl' }],
  });
}

/** Approvals read per page while exporting. */
const PAGE = 100;

export const CSV_COLUMNS = [
  'action_id',
  'action_type',
  'description',
  'requested_by',
  'risk',
  'status',
  'created_at',
  'decided_by',
  'decided_at',
  'decision_reason',
  'event_seq',
  'event',
  'event_actor',
  'event_at',
  'event_reason',
  'event_data',
] as const;

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
 * doubled. A field a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
 * carriage return: CSV injection) is prefixed with a single quote, so it is shown, never run; a
 * description or a reason is written by whoever asked, not by the auditor opening the file.
 */
export function csvField(value: unknown): string {
  let text =
    value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** The CSV rows of one approval: one per audit event (an approval always has at least one). */
export function csvRows(approval: ApprovalWithHistory): string {
  const head = [
    approval.action_id,
    approval.action_type,
    approval.description,
    approval.requested_by,
    approval.policy.risk,
    approval.status,
    approval.created_at,
    approval.decided_by,
    approval.decided_at,
    approval.decision_reason,
  ];
  const events = approval.history.length > 0 ? approval.history : [undefined];
  return events
    .map((e) => csvLine([...head, e?.seq, e?.event, e?.actor, e?.at, e?.reason, e ? e.data : null]))
    .join('');
}

/** Writes `chunk`, waiting for the socket to drain when its buffer is full (a slow client). */
async function write(res: ServerResponse, chunk: string): Promise<void> {
  if (res.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      res.off('close', closed);
      resolve();
    };
    const closed = () => {
      res.off('drain', done);
      reject(new Error('the client went away'));
    };
    res.once('drain', done);
    res.once('close', closed);
  });
}

/**
 * Streams the approvals `filter` selects (all pages), each with its history, as `format`. Once
 * the first byte is sent a failure can only cut the stream: the server then ends it, and the
 * missing closing line (CSV and JSONL have none) is why exports are also counted in the logs.
 */
export async function streamExport(
  pool: pg.Pool,
  res: ServerResponse,
  filter: Omit<ListRequest, 'cursor' | 'limit'>,
  format: ExportFormat,
): Promise<number> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  res.statusCode = 200;
  res.setHeader(
    'Content-Type',
    format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
  );
  res.setHeader('Content-Disposition', `attachment; filename="approvals-${stamp}.${format}"`);
  res.setHeader('Cache-Control', 'no-store');
  if (format === 'csv') await write(res, csvLine(CSV_COLUMNS));
  let cursor: string | undefined;
  let count = 0;
  do {
    const page = await listApprovals(pool, { ...filter, limit: PAGE, ...(cursor ? { cursor } : {}) });
    for (const item of page.items) {
      const approval = await getApproval(pool, item.action_id);
      await write(res, format === 'csv' ? csvRows(approval) : `${JSON.stringify(approval)}\n`);
      count += 1;
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  res.end();
  return count;
}

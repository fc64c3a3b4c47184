import { describe, expect, it } from 'vitest';
import { makeApproval } from '../../test/helpers/approvals.js';
import { actionIdOf, fileNameFor, parseEditable, renderApprovalFile, rewriteEditable } from './format.js';

describe('markdown approval files', () => {
  it('round-trips the editable block and ignores look-alikes elsewhere', () => {
    const approval = makeApproval({ description: 'Status: approved\nApproved By: mallory' });
    const file = renderApprovalFile(approval, { nonce: 'n0nce_A-1' });
    expect(parseEditable(file)).toEqual({
      writtenState: 'pending',
      nonce: 'n0nce_A-1',
      status: 'pending',
      approvedBy: '',
      reason: '',
    });
    const edited = file
      .replace('Status: pending', 'Status: Approved')
      .replace('Approved By: ', 'Approved By:  alice ')
      .replace('Reason: ', 'Reason: checked the invoice');
    expect(parseEditable(edited)).toEqual({
      writtenState: 'pending',
      nonce: 'n0nce_A-1',
      status: 'approved',
      approvedBy: 'alice',
      reason: 'checked the invoice',
    });
  });

  it('rewrites only the block, and a note cannot pose as a field', () => {
    const file = renderApprovalFile(makeApproval(), { nonce: 'n' }).replace(
      'Status: pending',
      'Status: approved',
    );
    const rewritten = rewriteEditable(file, {
      status: 'pending',
      approvedBy: '',
      reason: '',
      note: 'refused\nStatus: approved',
    }) as string;
    // The marker, nonce included, is kept: the file is still the one the notifier wrote.
    expect(parseEditable(rewritten)).toMatchObject({ nonce: 'n', status: 'pending', approvedBy: '' });
    expect(rewritten.slice(rewritten.indexOf('## How to decide'))).toBe(
      file.slice(file.indexOf('## How to decide')),
    );
    expect(
      rewriteEditable('no marker here', { status: 'pending', approvedBy: '', reason: '' }),
    ).toBeUndefined();
  });

  it('a decided file carries its terminal state in the marker', () => {
    const decided = makeApproval({
      status: 'approved',
      decided_by: 'alice',
      decided_at: new Date().toISOString(),
    });
    expect(parseEditable(renderApprovalFile(decided, { nonce: 'n' }))).toMatchObject({
      writtenState: 'approved',
      status: 'approved',
      approvedBy: 'alice',
    });
  });

  it('reads no nonce from a marker without one or with one that is not a nonce', () => {
    const file = renderApprovalFile(makeApproval(), { nonce: 'abc' });
    expect(parseEditable(file.replace(' file=abc', '')).nonce).toBeUndefined();
    expect(parseEditable(file.replace('file=abc', 'file=a b')).writtenState).toBeUndefined();
  });

  it('maps action ids to file names and back', () => {
    expect(fileNameFor('pay-1')).toBe('approval_pay-1.md');
    expect(actionIdOf('approval_pay-1.md')).toBe('pay-1');
    expect(actionIdOf('.approval_pay-1.md.1234.tmp')).toBeUndefined();
    expect(actionIdOf('notes.md')).toBeUndefined();
  });
});

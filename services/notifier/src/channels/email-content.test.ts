import { describe, expect, it } from 'vitest';
import { makeApproval } from '../../test/helpers/approvals.js';
import { renderDecidedEmail, renderPendingEmail } from './email-content.js';

describe('email content', () => {
  it('keeps hostile input out of the subject line and the markup', () => {
    const approval = makeApproval({
      action_type: 'pay\r\nBcc: victim@example.com',
      context: { '<b>key</b>': 'x" onmouseover="alert(1)' },
    });
    const email = renderPendingEmail(approval, {
      review: { url: 'https://c.example/r?token=a&b', approver: 'alice' },
    });
    expect(email.subject).not.toMatch(/[\r\n]/);
    expect(email.html).toContain('&lt;b&gt;key&lt;/b&gt;');
    expect(email.html).toContain('x&quot; onmouseover=&quot;alert(1)');
    expect(email.html).toContain('href="https://c.example/r?token=a&amp;b"');
  });

  it('gives fixed recipients no review link', () => {
    const email = renderPendingEmail(makeApproval());
    expect(email.text).not.toContain('/review');
    expect(email.text).toContain('Each approver receives a personal review link');
  });

  it('tells the outcome', () => {
    const approval = makeApproval({
      status: 'rejected',
      decided_by: 'frank',
      decided_at: new Date().toISOString(),
      decision_reason: 'duplicate invoice',
    });
    const email = renderDecidedEmail(approval);
    expect(email.subject).toContain('Approval rejected: payment');
    expect(email.text).toMatch(/Decided by:\s+frank/);
    expect(email.text).toMatch(/Reason:\s+duplicate invoice/);
  });
});

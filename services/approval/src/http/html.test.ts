import { describe, expect, it } from 'vitest';
import { escapeHtml, html, queryString } from './html.js';

describe('html', () => {
  it('escapes every interpolated value, in text and in attributes', () => {
    const hostile = `<script>alert("x")</script>' onmouseover='y' \``;
    const out = html`<p title="${hostile}">${hostile}</p>`.value;
    expect(out).not.toContain('<script>');
    expect(out).not.toMatch(/title="[^"]*"[^>]*onmouseover/);
    expect(out).toBe(`<p title="${escapeHtml(hostile)}">${escapeHtml(hostile)}</p>`);
    expect(escapeHtml(`&<>"'\``)).toBe('&amp;&lt;&gt;&quot;&#39;&#96;');
  });

  it('keeps nested fragments, joins arrays and drops null, undefined and false', () => {
    const inner = html`<b>${'a&b'}</b>`;
    expect(html`<i>${inner}${['x', html`<br>`]}${null}${undefined}${false}${0}</i>`.value).toBe(
      '<i><b>a&amp;b</b>x<br>0</i>',
    );
  });

  it('builds query strings without empty values', () => {
    expect(queryString({ status: 'pending', run_id: '', q: 'a b&c' })).toBe('?status=pending&q=a+b%26c');
    expect(queryString({ a: undefined })).toBe('');
  });
});

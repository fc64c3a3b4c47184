/**
 * Text helpers for rendering approvals. Descriptions, context values and even identities come
 * from requesters and are treated as hostile: escaped for HTML, stripped of control characters
 * where a line break would change meaning (subjects, single-line fields).
 */
const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** One line: control characters (newlines included) become spaces. */
export function oneLine(text: string, max = 200): string {
  return truncate(text.replace(/\p{Cc}+/gu, ' ').trim(), max);
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A context value as readable text: strings as they are, everything else as compact JSON. */
export function formatValue(value: unknown, max = 500): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return truncate(text, max);
}

/** `2026-11-21 11:00:00 UTC`, from an RFC 3339 timestamp. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')} UTC`;
}

// The Secret wrapper is the runtime's (every service's configuration uses it); re-exported for
// the notifier's modules that wrap channel secrets in it.
export { Secret } from '@countersign/runtime';

const REDACTED = '[redacted]';

/**
 * Removes known secret values from text before it is logged or stored (an error message that
 * echoes a URL or a server reply quoting credentials). Defence in depth: nothing is supposed to
 * put secrets into error text in the first place.
 */
export type Scrubber = (text: string) => string;

export function createScrubber(secrets: readonly string[]): Scrubber {
  const needles = new Set<string>();
  for (const secret of secrets) {
    // Short values would redact ordinary words; secrets of real deployments are long.
    if (secret.length < 6) continue;
    needles.add(secret);
    needles.add(encodeURIComponent(secret));
    needles.add(Buffer.from(secret).toString('base64'));
  }
  const ordered = [...needles].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const needle of ordered) out = out.split(needle).join(REDACTED);
    return out;
  };
}

/** The secret parts of a URL: its password, and its path and query (Slack hook URLs are the secret). */
export function urlSecrets(url: string): string[] {
  try {
    const parsed = new URL(url);
    const parts = [url];
    if (parsed.password) parts.push(decodeURIComponent(parsed.password), parsed.password);
    if (parsed.pathname.length > 1) parts.push(parsed.pathname);
    if (parsed.search) parts.push(parsed.search);
    return parts;
  } catch {
    return [url];
  }
}

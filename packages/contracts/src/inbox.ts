/**
 * The reply-inbox prefix of an identity's NATS connections (nats.js `inboxPrefix`, the NATS CLI
 * context's `inbox_prefix`). Its server permissions let that user subscribe to `<prefix>.>` and
 * to no other inbox, so nobody reads replies meant for someone else.
 *
 * One subject token: an identity may contain dots (`john.doe`), and `_INBOX_john.>` would also
 * match `_INBOX_john.doe.…`. Dots become `~`, which an identity never contains, so the mapping is
 * one-to-one.
 */
export function inboxPrefixOf(identity: string): string {
  return `_INBOX_${identity.replaceAll('.', '~')}`;
}

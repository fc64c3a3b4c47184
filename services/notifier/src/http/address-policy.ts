import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Addresses a webhook must not reach unless explicitly allowed: they belong to the notifier's
 * own network (loopback, private ranges, cloud metadata at 169.254.169.254), not to the
 * internet a webhook receiver lives on.
 */
const blocked = new BlockList();
const V4: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const V6: [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'unique local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
  ['2001:db8::', 32, 'documentation'],
  ['100::', 64, 'discard'],
];
const labels = new Map<string, BlockList>();
for (const [net, prefix, label] of V4) {
  blocked.addSubnet(net, prefix, 'ipv4');
  const list = labels.get(label) ?? new BlockList();
  list.addSubnet(net, prefix, 'ipv4');
  labels.set(label, list);
}
for (const [net, prefix, label] of V6) {
  blocked.addSubnet(net, prefix, 'ipv6');
  const list = labels.get(label) ?? new BlockList();
  list.addSubnet(net, prefix, 'ipv6');
  labels.set(label, list);
}

/** The IPv4 address embedded in an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) address. */
function embeddedIPv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted?.[1]) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex?.[1] && hex[2]) {
    const hi = Number.parseInt(hex[1], 16);
    const lo = Number.parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Why an address is not public (`loopback`, `private`, ...), or undefined for a public address. */
export function nonPublicReason(address: string): string | undefined {
  const v4 = isIPv4(address) ? address : isIPv6(address) ? embeddedIPv4(address) : undefined;
  if (v4 !== undefined) {
    if (!blocked.check(v4, 'ipv4')) return undefined;
    for (const [label, list] of labels) if (list.check(v4, 'ipv4')) return label;
    return 'non-public';
  }
  if (isIPv6(address)) {
    // Zone ids (fe80::1%eth0) are link-local by definition.
    if (address.includes('%')) return 'link-local';
    if (!blocked.check(address, 'ipv6')) return undefined;
    for (const [label, list] of labels) if (list.check(address, 'ipv6')) return label;
    return 'non-public';
  }
  return 'not an IP address';
}

import { type NatsServerHandle, startNatsServer } from './nats-server.js';
import { freePort } from './ports.js';

export interface NatsCluster {
  nodes: NatsServerHandle[];
  /** Every node's client URL, comma-separated, as NATS_URL takes them. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A NATS cluster on loopback: `size` nodes with JetStream, each routed to every other, named
 * n1..nN (JetStream needs server names in a cluster). Each node can be crashed and restarted on
 * its own. JetStream elects its meta leader shortly after the nodes are up; wait for it (an
 * account info request that succeeds) before creating streams.
 */
export async function startNatsCluster(
  size = 3,
  name = 'countersign',
  /** Appended to every node's configuration (the accounts of natsAuthConfig). */
  extraConfig = '',
): Promise<NatsCluster> {
  // Distinct: the kernel may hand the same free port to two lookups in a row.
  const ports = new Set<number>();
  while (ports.size < size * 2) ports.add(await freePort());
  const clientPorts = [...ports].slice(0, size);
  const routePorts = [...ports].slice(size);
  const routes = routePorts.map((p) => `"nats-route://127.0.0.1:${p}"`).join(', ');
  const started = await Promise.allSettled(
    clientPorts.map((port, i) =>
      startNatsServer({
        port,
        name: `n${i + 1}`,
        extraConfig: `cluster { name: "${name}", listen: "127.0.0.1:${routePorts[i]}", routes: [${routes}] }\n${extraConfig}`,
      }),
    ),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { nodes, url: nodes.map((n) => n.url).join(','), stop };
}

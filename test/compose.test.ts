/**
 * docker-compose.yml kept in step with the code, without a Docker engine: its structure
 * (services, healthchecks, volumes, dependencies), every environment variable it sets is one the
 * service's configuration schema knows and the interpolated values pass that schema, the
 * variables it reads are exactly those .env.example documents, the channels file it mounts
 * loads, and the policy health check (a NATS request) runs for real against a policy service.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { passwordVariable, REPO_ROOT } from '@countersign/devinfra';
import { spawnService, useTestNats } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MigrationEnv } from '../packages/runtime/src/config.js';
import { Directory } from '../packages/runtime/src/directory/index.js';
import { generateSigningJwk } from '../packages/runtime/src/signing-keys.js';
import { composeNatsConfig, composePasswordVariables } from '../scripts/nats-config.js';
import { ApprovalEnv } from '../services/approval/src/config.js';
import { McpEnv } from '../services/mcp/src/config.js';
import { loadChannelsFile } from '../services/notifier/src/channel-config.js';
import { NotifierEnv } from '../services/notifier/src/config.js';
import { PolicyEnv } from '../services/policy/src/config.js';

const run = promisify(execFile);
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

// Compose supports YAML merge keys (`<<: *anchor`); the yaml package needs them switched on.
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const APP_SERVICES = ['policy', 'approval', 'notifier'] as const;
const SCHEMAS = { policy: PolicyEnv, approval: ApprovalEnv, notifier: NotifierEnv };

/** `NAME=value` lines of .env.example. */
const envExample = new Map(
  read('.env.example')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1] as string, m[2] as string]),
);

/** The password variables deploy/nats/countersign.conf reads, one per NATS user. */
const NATS_PASSWORDS = composePasswordVariables(read('deploy/directory.yaml'));

/** What a person fills in for the secrets .env.example leaves empty. */
const FILLED_SECRETS: Record<string, string> = {
  POSTGRES_PASSWORD: 'a1b2c3d4e5f6a1b2c3d4e5f6',
  POSTGRES_APPROVAL_PASSWORD: 'f6e5d4c3b2a1f6e5d4c3b2a1',
  POSTGRES_NOTIFIER_PASSWORD: 'b2a1f6e5d4c3b2a1f6e5d4c3',
  AUDIT_KEY: 'a'.repeat(44),
  REVIEW_LINK_SECRET: 'k'.repeat(44),
  SESSION_SECRET: 's'.repeat(44),
  API_TOKENS: `${'t'.repeat(40)}:alice,${'u'.repeat(40)}:frank`,
  MCP_API_TOKENS: `${'m'.repeat(40)}:ops-agent`,
  SIGNING_KEYS: JSON.stringify({ keys: [generateSigningJwk()] }),
  ...Object.fromEntries(NATS_PASSWORDS.map((name, i) => [name, `natspass${i}`.padEnd(24, 'x')])),
};

const VARIABLE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g;

/** Compose's interpolation: `${X}`, `${X:-default}`, `${X-default}`, `${X:?error}`, `$$`. */
function interpolate(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(VARIABLE, (whole, name: string, op: string | undefined, arg: string | undefined) => {
    if (whole === '$$') return '$';
    const value = vars.get(name);
    const empty = value === undefined || value === '';
    if (op === ':-') return empty ? (arg ?? '') : value;
    if (op === '-') return value ?? arg ?? '';
    if (op === ':?' || op === '?') {
      if (op === ':?' ? empty : value === undefined) throw new Error(`${name}: ${arg}`);
      return value as string;
    }
    return value ?? '';
  });
}

function environmentOf(name: string, vars: ReadonlyMap<string, string>): Record<string, string> {
  const env = services[name]?.environment ?? {};
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v), vars)]));
}

/** Variables named anywhere in the compose file. */
function referencedVariables(): Set<string> {
  const names = new Set<string>();
  for (const match of read('docker-compose.yml').matchAll(VARIABLE)) if (match[1]) names.add(match[1]);
  return names;
}

const filled = new Map([...envExample].map(([k, v]) => [k, v === '' ? (FILLED_SECRETS[k] ?? '') : v]));

describe('docker-compose.yml', () => {
  it('has the infrastructure with health checks and persistent volumes', () => {
    for (const name of ['nats', 'postgres', 'mailpit', 'migrate', ...APP_SERVICES])
      expect(services, name).toHaveProperty(name);

    const nats = services.nats as ComposeService;
    // The same nats-server minor version as the run command and the tests use.
    const pinned = /NATS_SERVER_VERSION:-v(\d+\.\d+)\./.exec(read('scripts/install-tools.sh'))?.[1];
    expect(nats.image).toBe(`nats:${pinned}-alpine`);
    const command = nats.command ?? [];
    expect(command).toContain('-js');
    const storeDir = command[command.indexOf('-sd') + 1];
    expect(nats.volumes).toContain(`nats-data:${storeDir}`);
    expect(command[command.indexOf('-m') + 1]).toBe('8222');
    expect(nats.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:8222/healthz');

    const postgres = services.postgres as ComposeService;
    expect(postgres.image).toBe('postgres:17');
    expect(postgres.volumes).toContain('postgres-data:/var/lib/postgresql/data');
    expect(postgres.healthcheck?.test.join(' ')).toMatch(/pg_isready -U countersign -d countersign/);
    expect(services.mailpit?.image).toMatch(/^axllent\/mailpit:/);
    expect(services.mailpit?.healthcheck?.test).toEqual(['CMD', '/mailpit', 'readyz']);
    expect(Object.keys(compose.volumes).sort()).toEqual(['nats-data', 'postgres-data', 'prometheus-data']);
  });

  it('runs Prometheus on the alert rules, scraping the approval service and the notifier where they listen', () => {
    const prometheus = services.prometheus as ComposeService & { profiles?: string[] };
    expect(prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(prometheus.profiles).toBeUndefined();
    const configFile = /--config\.file=(\S+)/.exec((prometheus.command ?? []).join(' '))?.[1] as string;
    expect(prometheus.volumes).toContain(`./deploy/prometheus/prometheus.yml:${configFile}:ro`);
    const config = parse(read('deploy/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    // Rule files are relative to the configuration file: mounted beside it.
    for (const rules of config.rule_files)
      expect(prometheus.volumes).toContain(
        `./deploy/prometheus/${rules}:${join(dirname(configFile), rules)}:ro`,
      );
    const targets = Object.fromEntries(
      config.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]),
    );
    const approval = environmentOf('approval', filled);
    const notifier = environmentOf('notifier', filled);
    expect(targets['countersign-approval']).toEqual([`approval:${approval.HTTP_PORT}`]);
    expect(targets['countersign-notifier']).toEqual([`notifier:${notifier.METRICS_PORT}`]);
    expect(notifier.METRICS_HOST).toBe('0.0.0.0');
    expect(prometheus.ports).toEqual(['127.0.0.1:9090:9090']);
    expect(prometheus.volumes).toContain('prometheus-data:/prometheus');
  });

  it('runs Grafana, in the optional dashboards profile, with the dashboard and Prometheus provisioned', () => {
    const grafana = services.grafana as ComposeService & { profiles?: string[] };
    expect(grafana.profiles).toEqual(['dashboards']);
    expect(grafana.ports).toEqual(['127.0.0.1:3000:3000']);
    expect(grafana.volumes).toContain('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro');
    const provider = parse(read('deploy/grafana/provisioning/dashboards/countersign.yaml')) as {
      providers: { options: { path: string } }[];
    };
    const path = provider.providers[0]?.options.path as string;
    expect(grafana.volumes).toContain(`./deploy/grafana/countersign.json:${path}/countersign.json:ro`);
    // Read-only for anonymous viewers; nobody signs in with a default admin password.
    expect(environmentOf('grafana', filled)).toMatchObject({
      GF_AUTH_ANONYMOUS_ENABLED: 'true',
      GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer',
      GF_AUTH_DISABLE_LOGIN_FORM: 'true',
    });
  });

  it('builds the services from the one Dockerfile, SERVICE choosing which', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/^ARG SERVICE=/m);
    expect(dockerfile).toMatch(/services\/\$\{SERVICE\}\/dist\/main\.js/);
    for (const name of [...APP_SERVICES, 'mcp']) {
      const build = services[name]?.build;
      expect(build, name).toMatchObject({ context: '.', args: { SERVICE: name } });
      expect(build?.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
      expect(existsSync(join(REPO_ROOT, `services/${name}/src/main.ts`))).toBe(true);
    }
  });

  it('starts a service only once what it depends on is healthy, and the migrate job has succeeded', () => {
    const withDependencies = Object.entries(services).filter(([, s]) => s.depends_on);
    expect(withDependencies.map(([n]) => n).sort()).toEqual([
      'approval',
      'mcp',
      'migrate',
      'notifier',
      'policy',
    ]);
    for (const [name, service] of withDependencies) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        if (dependency === 'migrate') {
          // A one-shot job: it has no health, it has an exit code.
          expect(condition, `${name} -> migrate`).toBe('service_completed_successfully');
          continue;
        }
        expect(condition, `${name} -> ${dependency}`).toBe('service_healthy');
        expect(services[dependency]?.healthcheck, `${dependency} needs a health check`).toBeDefined();
      }
    }
    expect(Object.keys(services.approval?.depends_on ?? {}).sort()).toEqual(['migrate', 'nats', 'policy']);
    expect(Object.keys(services.notifier?.depends_on ?? {})).toContain('migrate');
    expect(Object.keys(services.migrate?.depends_on ?? {})).toEqual(['postgres']);
    // The image holds the compiled migrate job of each service with a schema (scripts/migrate.ts,
    // `pnpm migrate`, runs both from the sources); test/compiled-services.test.ts runs this command.
    expect(services.migrate?.command).toEqual([
      'sh',
      '-c',
      'node services/approval/dist/migrate.js && node services/notifier/dist/migrate.js',
    ]);
    for (const name of ['approval', 'notifier'])
      expect(existsSync(join(REPO_ROOT, `services/${name}/src/migrate.ts`)), name).toBe(true);
    expect(read('package.json')).toContain('"migrate": "node --import tsx scripts/migrate.ts"');
    // /readyz checks PostgreSQL, NATS and the policy service.
    expect(services.approval?.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:8080/readyz');
  });

  it('sets only variables the services know, with values their schemas accept', () => {
    const channelEnv = ['secret_env', 'url_env'].flatMap((key) =>
      [...read('deploy/channels.compose.yaml').matchAll(new RegExp(`^\\s+${key}: (\\S+)`, 'gm'))].map(
        (m) => m[1] as string,
      ),
    );
    for (const name of APP_SERVICES) {
      const schema = SCHEMAS[name];
      const known = new Set([...Object.keys(schema.in.shape), ...(name === 'notifier' ? channelEnv : [])]);
      const env = environmentOf(name, filled);
      for (const key of Object.keys(env))
        expect(known.has(key), `${name}: ${key} is not in its schema`).toBe(true);
      const parsed = schema.safeParse(env);
      expect(parsed.success, `${name}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }

    const approval = environmentOf('approval', filled);
    const notifier = environmentOf('notifier', filled);
    // Review links minted by the notifier must verify in the approval service and point at it.
    expect(notifier.REVIEW_LINK_SECRET).toBe(approval.REVIEW_LINK_SECRET);
    // Sessions have their own secret, which the notifier does not hold.
    expect(approval.SESSION_SECRET).toBe(FILLED_SECRETS.SESSION_SECRET);
    expect(notifier.SESSION_SECRET).toBeUndefined();
    expect(notifier.PUBLIC_URL).toBe(approval.PUBLIC_URL);
    expect(approval).toMatchObject({ HTTP_PORT: '8080', HTTP_HOST: '0.0.0.0' });
    expect(services.approval?.ports).toContain('127.0.0.1:8080:8080');
    const pg = environmentOf('postgres', filled);
    const migrate = environmentOf('migrate', filled);
    for (const key of Object.keys(migrate))
      expect(key in MigrationEnv.in.shape, `migrate: ${key} is not in its schema`).toBe(true);
    expect(MigrationEnv.safeParse(migrate).success).toBe(true);
    // The job migrates as the owner; each service runs as its own role it grants, with its password.
    const owner = new URL(migrate.MIGRATION_DATABASE_URL as string);
    expect([owner.username, owner.password, owner.pathname.slice(1), owner.hostname]).toEqual([
      pg.POSTGRES_USER,
      pg.POSTGRES_PASSWORD,
      pg.POSTGRES_DB,
      'postgres',
    ]);
    for (const [service, suffix] of [
      [approval, 'APPROVAL'],
      [notifier, 'NOTIFIER'],
    ] as const) {
      const database = new URL(service.DATABASE_URL as string);
      expect([database.username, database.password, database.pathname.slice(1), database.hostname]).toEqual([
        migrate[`DATABASE_RUNTIME_ROLE_${suffix}`],
        migrate[`DATABASE_RUNTIME_PASSWORD_${suffix}`],
        pg.POSTGRES_DB,
        'postgres',
      ]);
      expect(database.username).not.toBe(owner.username);
    }
    expect(new URL(notifier.DATABASE_URL as string).username).not.toBe(
      new URL(approval.DATABASE_URL as string).username,
    );
    expect([approval.MIGRATE_ON_START, notifier.MIGRATE_ON_START]).toEqual(['false', 'false']);
    for (const name of APP_SERVICES) expect(environmentOf(name, filled).NATS_URL).toBe('nats://nats:4222');
  });

  it('reads exactly the variables .env.example documents, and refuses to start without the secrets', () => {
    expect([...referencedVariables()].sort()).toEqual([...envExample.keys()].sort());
    const empty = [...envExample].filter(([, v]) => v === '').map(([k]) => k);
    expect(empty.sort()).toEqual(Object.keys(FILLED_SECRETS).sort());
    for (const secret of empty) {
      const without = new Map(filled);
      without.set(secret, '');
      const users = Object.keys(services).filter((name) =>
        Object.values(services[name]?.environment ?? {}).some((v) => String(v).includes(`\${${secret}:?`)),
      );
      expect(users.length, secret).toBeGreaterThan(0);
      for (const name of users)
        expect(() => environmentOf(name, without), `${name} without ${secret}`).toThrow(secret);
    }
  });

  it('sets every secret a service knows from .env, never a value written in the compose file', () => {
    // The variables of the services' schemas that hold credentials or signing secrets.
    const SECRET_KEYS = /SECRET|TOKEN|PASSWORD|CREDS|DATABASE_URL|SMTP_URL|SIGNING_KEYS|AUDIT_KEY/;
    const checked: string[] = [];
    for (const name of Object.keys(services)) {
      for (const [key, value] of Object.entries(services[name]?.environment ?? {})) {
        if (!SECRET_KEYS.test(key)) continue;
        // Interpolated from .env: what is left without the ${VARIABLE}s holds no secret (a URL
        // keeps its user, host and database, never a password).
        const literal = String(value).replace(VARIABLE, '');
        if (/_URL$/.test(key) && literal !== '')
          expect(new URL(literal).password, `${name}: ${key}`).toBe('');
        else expect(literal, `${name}: ${key}`).toBe('');
        checked.push(key);
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        'POSTGRES_PASSWORD',
        'MIGRATION_DATABASE_URL',
        'DATABASE_URL',
        'SMTP_URL',
        'SESSION_SECRET',
        'SIGNING_KEYS',
        'AUDIT_KEY',
      ]),
    );
    const approval = services.approval?.environment ?? {};
    for (const key of [
      'REVIEW_LINK_SECRET',
      'SESSION_SECRET',
      'API_TOKENS',
      'NATS_PASSWORD',
      'SIGNING_KEYS',
      'AUDIT_KEY',
    ])
      expect(String(approval[key]), key).toMatch(/^\$\{[A-Z_]+:\?/);
  });

  it('runs nats-server with the accounts scripts/nats-config.ts generates from the directory', () => {
    expect(read('deploy/nats/countersign.conf')).toBe(composeNatsConfig(read('deploy/directory.yaml')));
    const nats = services.nats as ComposeService;
    const command = nats.command ?? [];
    const config = command[command.indexOf('-c') + 1];
    expect(nats.volumes).toContain(`./deploy/nats/countersign.conf:${config}:ro`);
    // nats-server reads every password from its environment, and refuses to start without one.
    const env = environmentOf('nats', filled);
    expect(Object.keys(env).sort()).toEqual([...NATS_PASSWORDS].sort());
    for (const name of NATS_PASSWORDS) expect(env[name], name).toBe(filled.get(name));
    // Each service connects as its own user, with the password nats-server has for it.
    for (const name of APP_SERVICES) {
      const service = environmentOf(name, filled);
      expect(service.NATS_USER, name).toBe(name);
      expect(service.NATS_PASSWORD, name).toBe(env[passwordVariable(name)]);
      expect(service.NATS_AUTH ?? 'on', name).toBe('on');
    }
  });

  it('mounts a channels file the notifier loads (people and roles are in the directory file)', () => {
    const notifier = services.notifier as ComposeService;
    const config = environmentOf('notifier', filled).NOTIFIER_CONFIG;
    expect(notifier.volumes).toContain(`./deploy/channels.compose.yaml:${config}:ro`);
    // Loading refuses a channels file that still lists people or roles.
    const channels = loadChannelsFile(
      join(REPO_ROOT, 'deploy/channels.compose.yaml'),
      {},
      { allowHttp: false },
    );
    expect(channels.channels.map((c) => c.type)).toContain('email');
  });

  it('mounts the directory file where every service reads DIRECTORY_FILE', () => {
    for (const name of ['policy', 'approval', 'notifier']) {
      const file = environmentOf(name, filled).DIRECTORY_FILE;
      expect(services[name]?.volumes, name).toContain(`./deploy/directory.yaml:${file}:ro`);
    }
    expect(Directory.parse(read('deploy/directory.yaml')).membersOf(['finance'])).toEqual(['alice', 'frank']);
  });
});

describe('the MCP gateway in compose', () => {
  it('serves agents on HTTP with authentication, as the directory identity that acts for them', () => {
    expect(services.mcp?.build).toMatchObject({ context: '.', args: { SERVICE: 'mcp' } });
    const env = environmentOf('mcp', filled);
    for (const key of Object.keys(env)) expect(key in McpEnv.in.shape, `mcp: ${key}`).toBe(true);
    const parsed = McpEnv.safeParse(env);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(env).toMatchObject({ MCP_TRANSPORT: 'http', MCP_HTTP_HOST: '0.0.0.0', NATS_USER: 'mcp-gateway' });
    expect(String(services.mcp?.environment?.MCP_API_TOKENS)).toMatch(/^\$\{MCP_API_TOKENS:\?/);
    expect(services.mcp?.ports).toContain('127.0.0.1:8090:8090');
    expect(services.mcp?.volumes).toContain(`./deploy/directory.yaml:${env.DIRECTORY_FILE}:ro`);
    const directory = Directory.parse(read('deploy/directory.yaml'));
    for (const { identity } of parsed.data?.mcp.http.tokens ?? []) {
      expect(directory.actsFor('mcp-gateway', identity), identity).toBe(true);
    }
  });
});

describe('the policy health check', () => {
  it('fails while no policy service answers and passes once one does', async () => {
    const test = services.policy?.healthcheck?.test ?? [];
    expect(test[0]).toBe('CMD-SHELL');
    // Its own server even with NATS_URL set: on a shared one a policy service may answer already.
    const nats = await useTestNats({ own: true });
    // The container's working directory (/app) holds services/policy with its dependencies, as
    // the repository root does here (test/compiled-services.test.ts builds that layout).
    const check = () =>
      run('sh', ['-c', test[1] as string], {
        cwd: REPO_ROOT,
        env: { ...process.env, ...nats.env('policy') },
      }).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
    expect(await check()).not.toBe(0);
    await spawnService('policy', { env: { NATS_URL: nats.url, POLICY_BUCKET: '' } });
    expect(await check()).toBe(0);
  });
});

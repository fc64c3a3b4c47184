import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { PolicyLoadError } from './errors.js';
import { type GoldenCase, readGoldenCases } from './golden.js';
import { readTarGz } from './tar.js';

const execFileAsync = promisify(execFile);

/** The two WASM entrypoints the service evaluates; a bundle without either is refused. */
export const ENTRYPOINTS = {
  decision: 'countersign/decision/result',
  authorize: 'countersign/authorize/result',
} as const;
export const ENTRYPOINT_LIST: readonly string[] = Object.values(ENTRYPOINTS);

/** Unit tests live beside the rules; they are never part of the shipped bundle. */
const TEST_FILE_GLOB = '*_test.rego';
const isTestFile = (name: string) => name.endsWith('_test.rego');
/** What `opa build` loads from a directory: the revision covers exactly these. */
const isPolicySource = (name: string) => /\.(rego|json|ya?ml)$/.test(name) && !isTestFile(name);

/** The `.manifest` fields the service reads; other fields pass through. */
const BundleManifest = z.looseObject({
  revision: z.string().optional(),
  wasm: z.array(z.looseObject({ entrypoint: z.string(), module: z.string() })).optional(),
});
export type BundleManifest = z.infer<typeof BundleManifest>;

/** A bundle unpacked: what the engine loads. */
export interface PolicyBundle {
  revision: string;
  wasm: Uint8Array;
  /** The data document (every data.json of the bundle merged at its path). */
  data: Record<string, unknown>;
  manifest: BundleManifest;
  /** Entrypoints the manifest declares for the WASM module. */
  entrypoints: string[];
  /**
   * The golden cases the bundle carries in its data (`data.countersign.golden_cases`, from the
   * policy directory's `countersign/golden.json`), validated; undefined when it carries none,
   * which the engine refuses.
   */
  goldenCases: GoldenCase[] | undefined;
}

/**
 * A revision derived from the policy sources: sha256 over the sorted relative paths and
 * contents of the files `opa build` loads (tests excluded), so the same sources always give
 * the same revision on every machine, and any edit gives a new one.
 */
export async function sourceRevision(dir: string): Promise<string> {
  const files = await listSources(dir);
  const hash = createHash('sha256');
  for (const path of files) {
    // NUL separators: no path or content boundary can be shifted to forge the same digest.
    hash.update(relative(dir, path).split(sep).join('/'));
    hash.update('\0');
    hash.update(await readFile(path));
    hash.update('\0');
  }
  return `sha256:${hash.digest('hex').slice(0, 16)}`;
}

async function listSources(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string) => {
    const entries = await readdir(current, { withFileTypes: true });
    for (const entry of entries) {
      // Hidden entries are editor swap files, VCS data and build output (.build/).
      if (entry.name.startsWith('.')) continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && isPolicySource(entry.name)) out.push(path);
    }
  };
  await walk(dir);
  return out.sort();
}

export interface BuildOptions {
  /** The policy source directory (the repository's `policies/`). */
  dir: string;
  /** The opa binary. */
  opaBin: string;
  /** Default: {@link sourceRevision} of `dir`. */
  revision?: string;
  /** Default: both of {@link ENTRYPOINTS}. Tests pass fewer to prove such bundles are refused. */
  entrypoints?: readonly string[];
}

export interface BuiltBundle {
  revision: string;
  /** The `.tar.gz` as `opa build` wrote it. */
  bytes: Uint8Array;
}

/**
 * Compiles a source directory to a WASM bundle with `opa build -t wasm`. Always from source:
 * the service and the publish command never trust a previously built binary.
 */
export async function buildBundle(options: BuildOptions): Promise<BuiltBundle> {
  const revision = options.revision ?? (await sourceRevision(options.dir));
  const entrypoints = options.entrypoints ?? ENTRYPOINT_LIST;
  const work = await mkdtemp(join(tmpdir(), 'countersign-policy-build-'));
  const out = join(work, 'bundle.tar.gz');
  try {
    const args = ['build', '-t', 'wasm', ...entrypoints.flatMap((e) => ['-e', e])];
    args.push('--ignore', TEST_FILE_GLOB, '--revision', revision, '-o', out, '.');
    // cwd + '.' keeps the bundle's file paths relative to the policy root.
    await execFileAsync(options.opaBin, args, { cwd: options.dir, timeout: 120_000, maxBuffer: 4 << 20 });
    return { revision, bytes: await readFile(out) };
  } catch (err) {
    throw new PolicyLoadError('build_failed', buildFailure(err, options.opaBin), { cause: err });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function buildFailure(err: unknown, opaBin: string): string {
  const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
  if (e.code === 'ENOENT') {
    return `opa not found at "${opaBin}" (set OPA_BIN), or the policy directory is missing`;
  }
  // opa prints compile errors (file:line: rego_parse_error ...) on stdout.
  const output = [e.stderr, e.stdout]
    .map((s) => s?.trim())
    .filter(Boolean)
    .join('\n');
  return `opa build failed: ${output || e.message}`;
}

/**
 * Unpacks a bundle. The revision is the manifest's, or a digest of the bytes for a bundle built
 * without `--revision`, so `policy.info` always names what is loaded.
 */
export function readBundle(bytes: Uint8Array): PolicyBundle {
  let files: Map<string, Uint8Array>;
  try {
    files = readTarGz(bytes);
  } catch (err) {
    throw new PolicyLoadError(
      'invalid_bundle',
      `bundle is not a readable .tar.gz: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const wasm = files.get('policy.wasm');
  if (!wasm) throw new PolicyLoadError('invalid_bundle', 'bundle has no policy.wasm (build it with -t wasm)');

  const manifestBytes = files.get('.manifest');
  const manifest = manifestBytes ? parseJson(BundleManifest, manifestBytes, '.manifest') : {};
  const data: Record<string, unknown> = {};
  for (const [path, content] of files) {
    if (path !== 'data.json' && !path.endsWith('/data.json')) continue;
    const value = parseJson(z.record(z.string(), z.unknown()), content, path);
    mergeAt(data, path.split('/').slice(0, -1), value);
  }
  const revision =
    manifest.revision || `sha256:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
  return {
    revision,
    wasm,
    data,
    manifest,
    entrypoints: (manifest.wasm ?? []).map((w) => w.entrypoint),
    goldenCases: readGoldenCases(data),
  };
}

function parseJson<S extends z.ZodType>(schema: S, bytes: Uint8Array, name: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new PolicyLoadError('invalid_bundle', `${name} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new PolicyLoadError('invalid_bundle', `${name} has an unexpected shape`);
  return parsed.data;
}

/** Merges a data file into the data tree at its directory's path, as OPA does. */
function mergeAt(tree: Record<string, unknown>, path: string[], value: Record<string, unknown>): void {
  let node = tree;
  for (const key of path) {
    const child = node[key];
    if (typeof child === 'object' && child !== null && !Array.isArray(child)) {
      node = child as Record<string, unknown>;
    } else {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    }
  }
  for (const [key, v] of Object.entries(value)) {
    const existing = node[key];
    if (isPlainObject(existing) && isPlainObject(v)) mergeAt(existing, [], v);
    else node[key] = v;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyOfPolicies, opaBin, policyDir, setThreshold } from '../test/support.js';
import { buildBundle, ENTRYPOINT_LIST, readBundle, sourceRevision } from './bundle.js';
import { PolicyLoadError } from './errors.js';
import { readTarGz } from './tar.js';

async function thrownBy(promise: Promise<unknown>): Promise<PolicyLoadError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyLoadError);
  return err as PolicyLoadError;
}

describe('sourceRevision', () => {
  it('is stable, changes with any policy file, and ignores tests and other files', async () => {
    const dir = copyOfPolicies();
    const first = await sourceRevision(dir);
    expect(first).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(await sourceRevision(dir)).toBe(first);

    writeFileSync(join(dir, 'README.md'), 'changed docs');
    writeFileSync(join(dir, 'countersign/extra_test.rego'), 'package countersign.extra_test\n');
    writeFileSync(join(dir, 'countersign/.data.json.swp'), 'editor swap file');
    expect(await sourceRevision(dir)).toBe(first);

    setThreshold(dir, 'payment_amount', 750);
    const second = await sourceRevision(dir);
    expect(second).not.toBe(first);

    const rego = join(dir, 'countersign/lib.rego');
    writeFileSync(rego, `${readFileSync(rego, 'utf8')}\n# comment\n`);
    expect(await sourceRevision(dir)).not.toBe(second);
  });

  it('depends on paths as well as contents', async () => {
    const a = policyDir({ 'x/a.rego': 'package a\n' });
    const b = policyDir({ 'y/a.rego': 'package a\n' });
    expect(await sourceRevision(a)).not.toBe(await sourceRevision(b));
  });
});

describe('buildBundle and readBundle', () => {
  it('builds the shipped policy with both entrypoints, its data and the source revision', async () => {
    const dir = copyOfPolicies();
    const built = await buildBundle({ dir, opaBin: opaBin() });
    expect(built.revision).toBe(await sourceRevision(dir));

    const files = [...readTarGz(built.bytes).keys()];
    expect(files).toEqual(expect.arrayContaining(['policy.wasm', 'data.json', '.manifest']));
    expect(files.filter((f) => f.endsWith('_test.rego'))).toEqual([]);

    const bundle = readBundle(built.bytes);
    expect(bundle.revision).toBe(built.revision);
    expect(bundle.entrypoints.sort()).toEqual([...ENTRYPOINT_LIST].sort());
    expect(bundle.data).toMatchObject({ countersign: { thresholds: { payment_amount: 500 } } });
    // A WASM module starts with the magic bytes \0asm.
    expect([...bundle.wasm.subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]);
  });

  it('uses a given revision, and a digest of the bytes for a bundle built without one', async () => {
    const dir = copyOfPolicies();
    const bytes = (await buildBundle({ dir, opaBin: opaBin(), revision: 'v42' })).bytes;
    expect(readBundle(bytes).revision).toBe('v42');
    const unrevisioned = (await buildBundle({ dir, opaBin: opaBin(), revision: '' })).bytes;
    expect(readBundle(unrevisioned).revision).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it('merges data.json files found below the root at their path', async () => {
    const dir = policyDir({
      'countersign/decision.rego': 'package countersign.decision\n\nresult := data.countersign.a\n',
      'countersign/data.json': '{"a": 1}',
      'countersign/sub/data.json': '{"b": 2}',
    });
    const bundle = readBundle(
      (await buildBundle({ dir, opaBin: opaBin(), entrypoints: ['countersign/decision/result'] })).bytes,
    );
    expect(bundle.data).toEqual({ countersign: { a: 1, sub: { b: 2 } } });
  });

  it('reports a Rego syntax error with its file and line', async () => {
    const dir = copyOfPolicies();
    writeFileSync(join(dir, 'countersign/broken.rego'), 'package countersign.decision\n\nx := input.y +\n');
    const err = await thrownBy(buildBundle({ dir, opaBin: opaBin() }));
    expect(err.kind).toBe('build_failed');
    expect(err.message).toMatch(/broken\.rego:\d+: rego_parse_error/);
  });

  it('says where opa was looked for when it is missing', async () => {
    const err = await thrownBy(buildBundle({ dir: copyOfPolicies(), opaBin: '/nonexistent/opa' }));
    expect(err.kind).toBe('build_failed');
    expect(err.message).toMatch(/opa not found at "\/nonexistent\/opa"/);
  });

  it('refuses bytes that are not a bundle, and a bundle without policy.wasm', async () => {
    expect(() => readBundle(new TextEncoder().encode('hello'))).toThrow(/not a readable \.tar\.gz/);
    const regoOnly = policyDir({ 'p.rego': 'package p\n\nx := 1\n' });
    const { execFileSync } = await import('node:child_process');
    const out = join(regoOnly, 'plain.tar.gz');
    // A plain (non-wasm) bundle: what `opa build` makes without -t wasm.
    execFileSync(opaBin(), ['build', '-o', out, 'p.rego'], { cwd: regoOnly });
    const err = (() => {
      try {
        readBundle(readFileSync(out));
      } catch (e) {
        return e as PolicyLoadError;
      }
      throw new Error('expected readBundle to refuse the bundle');
    })();
    expect(err.kind).toBe('invalid_bundle');
    expect(err.message).toMatch(/no policy\.wasm/);
  });
});

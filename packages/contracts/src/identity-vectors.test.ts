/**
 * The identity vectors shared with the Python SDK (test-vectors/identities.json, also read by
 * sdks/python/tests/test_identity.py): both implementations of canonical identities must give
 * every vector the same answer, and the Python SDK's table of confusable scripts must be the one
 * this runtime's Unicode data gives, or a name could be one person in TypeScript and another, or
 * refused, in Python.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonicalIdentity, canonicalizeFully, Identity } from './identity.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(here, '../../..');

interface Vector {
  note: string;
  input: string;
  identity?: string;
  refused?: string;
  reserved?: boolean;
}

const { vectors } = JSON.parse(readFileSync(join(here, '../test-vectors/identities.json'), 'utf8')) as {
  vectors: Vector[];
};

describe('canonicalIdentity against the shared vectors', () => {
  it('covers both answers', () => {
    expect(vectors.filter((v) => v.identity !== undefined).length).toBeGreaterThan(20);
    expect(vectors.filter((v) => v.refused !== undefined).length).toBeGreaterThan(20);
    expect(vectors.filter((v) => v.reserved).length).toBeGreaterThan(2);
  });

  it.each(vectors.map((v) => [v.note, v] as const))('%s', (_note, vector) => {
    expect(vector.identity === undefined).not.toBe(vector.refused === undefined);
    const result = canonicalIdentity(vector.input);
    expect(result).toEqual(
      vector.identity === undefined
        ? { ok: false, message: vector.refused }
        : { ok: true, identity: vector.identity },
    );
    // The wire field refuses what canonicalIdentity refuses, and the system actors besides.
    const wire = Identity.safeParse(vector.input);
    if (vector.identity !== undefined && !vector.reserved) {
      expect(wire).toMatchObject({ success: true, data: vector.identity });
    } else {
      expect(wire.success).toBe(false);
    }
  });
});

/** The scripts identity.ts keeps apart, in its order. */
const SCRIPTS = ['Latin', 'Greek', 'Cyrillic', 'Armenian', 'Cherokee'] as const;

/** The code point ranges of a script, by this runtime's Unicode data. */
function rangesOf(script: string): [number, number][] {
  const pattern = new RegExp(`^\\p{Script=${script}}$`, 'u');
  const ranges: [number, number][] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (!pattern.test(String.fromCodePoint(cp))) continue;
    const last = ranges.at(-1);
    if (last && last[1] === cp - 1) last[1] = cp;
    else ranges.push([cp, cp]);
  }
  return ranges;
}

const hex = (cp: number) => `0x${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** sdks/python/src/countersign/_scripts.py as it must read. */
function pythonScriptsModule(): string {
  const lines = [
    '"""The code point ranges of the scripts whose letters are confusable with each other',
    "(``packages/contracts/src/identity.ts``, ``\\\\p{Script=…}``): Python's ``re`` has no script",
    'property. Generated from the Unicode data of Node.js by',
    '``packages/contracts/src/identity-vectors.test.ts``, which fails when this table differs',
    'from what it computes; ``vitest run -u`` on that file writes it again."""',
    '',
    'CONFUSABLE_SCRIPTS: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (',
  ];
  for (const script of SCRIPTS) {
    lines.push(`    (`, `        "${script}",`, '        (');
    for (const [from, to] of rangesOf(script)) lines.push(`            (${hex(from)}, ${hex(to)}),`);
    lines.push('        ),', '    ),');
  }
  lines.push(')', '');
  return lines.join('\n');
}

describe('the Python SDK table of confusable scripts', () => {
  it('is the one this runtime computes', async () => {
    await expect(pythonScriptsModule()).toMatchFileSnapshot(
      join(REPO_ROOT, 'sdks/python/src/countersign/_scripts.py'),
    );
  }, 60_000);
});

describe('the ASCII fast path of canonicalIdentity', () => {
  it('answers exactly what the full path answers', () => {
    // Every string of up to three characters over ASCII letters of both cases, digits, the
    // allowed symbols, separators, spaces and look-alikes, and every shared vector.
    const alphabet = [
      'a',
      'Z',
      'k',
      '0',
      '9',
      '_',
      '-',
      '@',
      '+',
      '.',
      ' ',
      '\t',
      '/',
      'é',
      'а',
      'ı',
      'K',
      '\u200b',
    ];
    const inputs = [''];
    for (let length = 1; length <= 3; length++) {
      for (const prefix of inputs.filter((s) => [...s].length === length - 1)) {
        for (const c of alphabet) inputs.push(prefix + c);
      }
    }
    inputs.push(...vectors.map((v) => v.input), 'a'.repeat(128), 'a'.repeat(129), 'billing-job', 'a.b.c');
    for (const input of inputs)
      expect(canonicalIdentity(input), JSON.stringify(input)).toEqual(canonicalizeFully(input));
  });
});

import type { CountersignError } from '@countersign/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { actingAs } from './api.js';

const refusal = (body: Record<string, unknown>) => refused(() => actingAs(body, 'decided_by', 'frank'));

describe('actingAs', () => {
  it('takes the credential identity when the body names nobody', () => {
    expect(actingAs({ approved: true }, 'decided_by', 'frank')).toEqual({
      approved: true,
      decided_by: 'frank',
    });
  });

  it('compares names canonically: case, surrounding space and NFKC forms are the same person', () => {
    for (const named of ['frank', 'Frank', 'FRANK', ' frank ', '\uff46\uff52\uff41\uff4e\uff4b']) {
      expect(actingAs({ decided_by: named }, 'decided_by', 'frank'), named).toEqual({ decided_by: 'frank' });
    }
  });

  it('refuses someone else as actor_mismatch', () => {
    const error = refusal({ decided_by: 'Alice' });
    expect(error.code).toBe('forbidden');
    expect(error.details).toMatchObject({ reasons: [{ code: 'actor_mismatch' }] });
  });

  it('refuses names that only look like one (zero-width, bidi, mixed scripts) as invalid, naming the field', () => {
    for (const named of ['fr\u200bank', '\u202efrank', 'fr\u0430nk', 'frank\u2066', 42]) {
      const error = refusal({ decided_by: named });
      expect(error.code, String(named)).toBe('invalid_request');
      expect(error.details).toMatchObject({ fields: [{ path: 'decided_by' }] });
    }
  });
});

describe('actingAs, properties', () => {
  const identity = fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/);
  /**
   * What a person might type for `id`: any case, fullwidth forms, spaces around it (spaces that
   * NFKC makes plain; tabs and newlines are control characters, refused rather than trimmed).
   */
  const variantOf = (id: string) =>
    fc
      .tuple(
        fc.array(fc.constantFrom('upper', 'lower', 'fullwidth'), {
          minLength: id.length,
          maxLength: id.length,
        }),
        fc.constantFrom('', ' ', '  ', '\u3000'),
        fc.constantFrom('', ' ', '\u00a0'),
      )
      .map(([forms, before, after]) => {
        const chars = [...id].map((c, i) => {
          const form = forms[i];
          if (form === 'upper') return c.toUpperCase();
          if (form === 'fullwidth') return String.fromCodePoint((c.codePointAt(0) as number) + 0xfee0);
          return c;
        });
        return `${before}${chars.join('')}${after}`;
      });
  const INVISIBLE = [
    '\u200b',
    '\u200c',
    '\u200d',
    '\u2060',
    '\ufeff',
    '\u00ad',
    '\u202a',
    '\u202e',
    '\u2066',
    '\u2069',
  ];

  it('any case, fullwidth or spaced spelling of the credential identity acts as it', () => {
    fc.assert(
      fc.property(
        identity.chain((id) => fc.tuple(fc.constant(id), variantOf(id))),
        ([id, typed]) => {
          expect(actingAs({ decided_by: typed }, 'decided_by', id)).toEqual({ decided_by: id });
        },
      ),
    );
  });

  it('an invisible character anywhere in the name is refused, never taken for the identity', () => {
    fc.assert(
      fc.property(
        identity.chain((id) =>
          fc.tuple(fc.constant(id), fc.nat({ max: id.length }), fc.constantFrom(...INVISIBLE)),
        ),
        ([id, at, invisible]) => {
          const typed = `${id.slice(0, at)}${invisible}${id.slice(at)}`;
          const error = refused(() => actingAs({ decided_by: typed }, 'decided_by', id));
          expect(error.code).toBe('invalid_request');
          expect(error.details).toMatchObject({ fields: [{ path: 'decided_by' }] });
        },
      ),
    );
  });

  it('any spelling of another identity is actor_mismatch', () => {
    fc.assert(
      fc.property(
        fc
          .tuple(identity, identity)
          .filter(([a, b]) => a !== b)
          .chain(([a, b]) => fc.tuple(fc.constant(a), variantOf(b))),
        ([id, other]) => {
          const error = refused(() => actingAs({ decided_by: other }, 'decided_by', id));
          expect(error.code).toBe('forbidden');
          expect(error.details).toMatchObject({ reasons: [{ code: 'actor_mismatch' }] });
        },
      ),
    );
  });
});

function refused(run: () => unknown): CountersignError {
  try {
    run();
  } catch (err) {
    return err as CountersignError;
  }
  throw new Error('expected a refusal');
}

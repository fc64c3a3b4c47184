import { describe, expect, it } from 'vitest';
import { containsUnstorable, storable } from './storable.js';

describe('containsUnstorable', () => {
  it('finds U+0000 anywhere in a value (Postgres text cannot store it)', () => {
    expect(containsUnstorable({ a: ['x', { b: 'y\u0000' }] })).toBe(true);
    expect(containsUnstorable({ 'k\u0000': 1 })).toBe(true);
    expect(containsUnstorable({ a: 'plain \\u0000 text' })).toBe(false);
  });

  it('finds unpaired UTF-16 surrogates (jsonb refuses them), not the pairs of astral characters', () => {
    expect(containsUnstorable({ a: 'half \ud800' })).toBe(true);
    expect(containsUnstorable({ '\udfff': 1 })).toBe(true);
    expect(containsUnstorable({ a: 'emoji \u{1F600} and \ud83d\ude00' })).toBe(false);
    expect(storable(['x\ud800y'])).toEqual(['x\ufffdy']);
  });

  it('can be removed from strings and keys alike', () => {
    const cleaned = storable({ 'k\u0000': ['a\u0000b', 1, null, { x: '\u0000' }] });
    expect(cleaned).toEqual({ k: ['ab', 1, null, { x: '' }] });
    expect(containsUnstorable(cleaned)).toBe(false);
  });
});

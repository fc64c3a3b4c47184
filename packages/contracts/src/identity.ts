import { z } from 'zod';

/**
 * Canonical identities. A person or system is one string however it is typed: "Alice",
 * "ALICE", " alice", the fullwidth "ａｌｉｃｅ" and "alice" are the same identity, and names that
 * only look like one (a zero-width space inside, a bidi override, Cyrillic "а" among Latin
 * letters) are refused rather than treated as someone new. Every door (NATS subjects and
 * payloads, HTTP, the intake, markdown files, Slack, the directory file) canonicalises with this
 * one function, so comparisons anywhere after it are plain string equality.
 */

/** The names Countersign itself acts under; no caller may claim them. */
export const SYSTEM_ACTORS = ['policy', 'countersign', 'system'] as const;
export type SystemActor = (typeof SYSTEM_ACTORS)[number];

export function isSystemActor(identity: string): identity is SystemActor {
  return (SYSTEM_ACTORS as readonly string[]).includes(identity);
}

export const MAX_IDENTITY_LENGTH = 128;

/**
 * A canonical identity is also a run of NATS subject tokens (`approval.decide.<identity>`):
 * letters, marks, digits and `_ - @ + .`, starting with a letter or digit, no empty token.
 */
const CANONICAL_PATTERN = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}_@+-]*(\.[\p{L}\p{M}\p{N}_@+-]+)*$/u;
/** The ASCII lowercase subset of {@link CANONICAL_PATTERN}: canonical as it is. */
const ASCII_CANONICAL = /^[a-z0-9][a-z0-9_@+-]*(\.[a-z0-9_@+-]+)*$/;
const SURROUNDING_SPACE = /^[\p{Zs}\t]+|[\p{Zs}\t]+$/gu;
// Control, format (zero-width, bidi, BOM), line/paragraph separators, private use, unassigned.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]/u;
// Scripts whose letters are confusable with each other; one name may use only one of them.
const CONFUSABLE_SCRIPTS: [string, RegExp][] = [
  ['Latin', /\p{Script=Latin}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Armenian', /\p{Script=Armenian}/u],
  ['Cherokee', /\p{Script=Cherokee}/u],
];

export type CanonicalResult = { ok: true; identity: string } | { ok: false; message: string };

/**
 * NFKC-normalises, case-folds and trims `raw`, then checks what is left. Case folding is
 * upper-then-lower case, which folds "ß" to "ss" and final sigma to sigma as Unicode's full case
 * folding does, repeated until nothing changes: "ẞ" (capital sharp s) upper-cases to itself and
 * lower-cases to "ß", which only a second pass folds to "ss". The result is normalised again
 * because folding can un-normalise. So canonicalIdentity(canonicalIdentity(x)) is its first
 * answer: two spellings of one name never give two identities.
 */
export function canonicalIdentity(raw: string): CanonicalResult {
  // The common case, already canonical lowercase ASCII (every identity the services send and
  // most a person types): NFKC and case folding leave it as it is and it is one script, so the
  // full path below would return it unchanged. One ASCII regular expression instead of two
  // Unicode normalisations and several Unicode-property ones, on every identity of every
  // message (identity-vectors.test.ts compares both paths).
  if (raw.length <= MAX_IDENTITY_LENGTH && ASCII_CANONICAL.test(raw)) return { ok: true, identity: raw };
  return canonicalizeFully(raw);
}

/** {@link canonicalIdentity} without its ASCII fast path. Exported for the test that compares them. */
export function canonicalizeFully(raw: string): CanonicalResult {
  // Spaces and tabs around a name are trimmed; anything else invisible, anywhere, is refused.
  const trimmed = raw.replace(SURROUNDING_SPACE, '');
  if (INVISIBLE.test(trimmed)) {
    return { ok: false, message: 'must not contain control, format, bidi or zero-width characters' };
  }
  const identity = caseFolded(trimmed.normalize('NFKC')).trim();
  if (identity === '') return { ok: false, message: 'must not be empty' };
  if (INVISIBLE.test(identity)) {
    return { ok: false, message: 'must not contain control, format, bidi or zero-width characters' };
  }
  if (identity.length > MAX_IDENTITY_LENGTH) {
    return { ok: false, message: `must be at most ${MAX_IDENTITY_LENGTH} characters` };
  }
  const scripts = CONFUSABLE_SCRIPTS.filter(([, pattern]) => pattern.test(identity)).map(([name]) => name);
  if (scripts.length > 1)
    return { ok: false, message: `must not mix confusable scripts (${scripts.join(', ')})` };
  if (!CANONICAL_PATTERN.test(identity)) {
    return {
      ok: false,
      message: 'must be letters, digits and "_ - @ + ." (no spaces), starting with a letter or digit',
    };
  }
  return { ok: true, identity };
}

/** Upper- then lower-case (and NFKC) until a pass changes nothing; a few passes at most. */
function caseFolded(text: string): string {
  let folded = text;
  for (let pass = 0; pass < 4; pass++) {
    const next = folded.toUpperCase().toLowerCase().normalize('NFKC');
    if (next === folded) break;
    folded = next;
  }
  return folded;
}

/** The canonical form of `raw`, or an Error naming what is wrong (for configuration files). */
export function canonicalIdentityOrThrow(raw: string, what: string): string {
  const result = canonicalIdentity(raw);
  if (!result.ok) throw new Error(`${what}: ${result.message}`);
  return result.identity;
}

/**
 * An identity field on the wire: canonicalised on the way in, refused with the field's path when
 * it cannot be. System actors are refused here, so no request can name one.
 */
export const Identity = z
  .string()
  .min(1)
  .max(256)
  .describe(
    'An identity: NFKC-normalised, case-folded and trimmed on arrival; control, format, bidi and zero-width characters and mixed confusable scripts are refused',
  )
  .transform((raw, ctx) => {
    const result = canonicalIdentity(raw);
    if (!result.ok) {
      ctx.addIssue({ code: 'custom', message: result.message });
      return z.NEVER;
    }
    if (isSystemActor(result.identity)) {
      ctx.addIssue({ code: 'custom', message: `"${result.identity}" is reserved for Countersign itself` });
      return z.NEVER;
    }
    return result.identity;
  });

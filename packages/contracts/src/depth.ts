/**
 * Nesting limits. JSON.parse takes any depth, but whatever walks a value recursively afterwards
 * (validation, canonical hashing, storage) overflows the stack on a payload of 20,000 nested
 * arrays, which fits in 64 KiB. Payloads are refused past MAX_JSON_DEPTH at decoding; a
 * request's context is held to MAX_CONTEXT_DEPTH, so that the records, events and policy calls
 * that embed it stay under the payload limit too.
 */
export const MAX_JSON_DEPTH = 64;
export const MAX_CONTEXT_DEPTH = 32;

/**
 * Nesting depth of a parsed JSON value: 0 for a primitive, 1 for `{}` or `[]`. Iterative, so it
 * is safe on any input; stops counting once past `stopAbove`.
 */
export function jsonDepth(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [item, depth] = next;
    if (item === null || typeof item !== 'object') continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > stopAbove) return deepest;
    for (const child of Object.values(item)) stack.push([child, here]);
  }
  return deepest;
}

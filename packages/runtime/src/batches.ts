/**
 * Groups an async iterable's items into batches of what has already arrived: a batch ends when
 * it is full, or when the next item is not already buffered (it would have to come from the
 * network). A lone item goes alone, so nothing waits for company when traffic is light.
 *
 * "Already buffered" is decided by timing, not by a count: items buffered in the source are
 * delivered through microtasks, which all run before a setImmediate callback; an item that
 * still has to arrive from a socket does not. (JetStream's ConsumerMessages.getPending() can
 * count one message too many, its internal callbacks, so a loop that waits for it to reach zero
 * can hold the last message of a burst until another message arrives: up to the ack wait.)
 */
export async function* batches<T>(source: AsyncIterable<T>, maxSize: number): AsyncGenerator<T[]> {
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  while (true) {
    const first = await next;
    if (first.done) return;
    const batch = [first.value];
    next = iterator.next();
    let ended = false;
    while (batch.length < maxSize) {
      const item = await Promise.race([next, nextMacrotask()]);
      if (item === IDLE) break;
      if (item.done) {
        ended = true;
        break;
      }
      batch.push(item.value);
      next = iterator.next();
    }
    yield batch;
    if (ended) return;
  }
}

const IDLE = Symbol('idle');

function nextMacrotask(): Promise<typeof IDLE> {
  return new Promise((resolve) => setImmediate(() => resolve(IDLE)));
}

import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A secret value (a database URL with its password, an SMTP URL, a webhook signing key) that
 * cannot leak by accident: JSON serialisation (pino), `util.inspect` (console, errors) and string
 * conversion all print `[redacted]`. Only `reveal()` gives the value, at the one place that uses it.
 */
export class Secret<T = string> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  reveal(): T {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}

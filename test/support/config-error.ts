/** The one-line message of the ConfigError `fn` throws (fails when it throws nothing or something else). */
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.ts';

export function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/, 'a config error is one line');
    return e.message;
  }
  return assert.fail('expected a ConfigError, but nothing was thrown');
}

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * One full garbage collection, run by main.ts a second after the server listens. While the modules load,
 * V8 grows the young generation to its maximum (`--max-semi-space-size`, start:prod's flags)
 * and keeps those pages until a collection finds little allocation going on; this collection
 * is one, so the young generation goes back to its initial 1 MiB and the old generation is
 * compacted. It grows again under load. Worth ~9 MiB of idle RSS at 2 MiB semi-spaces and
 * ~22 MiB at 8 (docs/runtime.md "Memory and start of the server process"). It also starts
 * V8's memory reducer, whose full collections after every load cost the next load more CPU
 * than they saved: start:prod turns the reducer off (`--no-memory-reducer`, same section).
 *
 * `gc` exists only with `--expose-gc`; the flag is set just long enough to read the function
 * from a new context (its global gets `gc`), so it is not on this process's global object
 * and start-up does not depend on how Node was started. Returns the pause in milliseconds.
 */
export function collectStartUpGarbage(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: object) => void;
  setFlagsFromString('--no-expose-gc');
  const started = performance.now();
  // `last-resort`: V8's memory-reducing collection (several full GCs). A plain `gc()` right
  // after start-up keeps the young generation when the allocation rate is still high.
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return performance.now() - started;
}

// Where a run's time goes, by phase, for `KLP_TIMINGS=1 livepatch-check ...` and
// `npm run bench`. Phases nest (a rule reads a tree file, which parses it); each
// phase is charged its own time only, so the phases of a run add up to its total.
// Off by default: then start() and end() do nothing but one test.

export interface PhaseTimes {
  /** Milliseconds charged to each phase, exclusive of the phases nested in it. */
  [phase: string]: number;
}

let enabled = false;
const totals = new Map<string, number>();
// The open phases, innermost last: [phase, start, time spent in nested phases].
const stack: [string, number, number][] = [];

export function enableTimings(on = true): void {
  enabled = on;
  totals.clear();
  stack.length = 0;
}

export function timingsEnabled(): boolean {
  return enabled;
}

/** Opens a phase; close it with end(). */
export function start(phase: string): void {
  if (enabled) stack.push([phase, performance.now(), 0]);
}

/** Closes the innermost phase, which must be `phase` (a mismatch is a bug in the caller, so it throws). */
export function end(phase: string): void {
  if (!enabled) return;
  const top = stack.pop();
  if (!top || top[0] !== phase) throw new Error(`timings: end('${phase}') while '${top?.[0] ?? 'nothing'}' is open`);
  const took = performance.now() - top[1];
  add(phase, took - top[2]);
  if (stack.length) stack[stack.length - 1][2] += took;
}

/** Runs fn as a phase (also when it throws). */
export function timed<T>(phase: string, fn: () => T): T {
  if (!enabled) return fn();
  start(phase);
  try {
    return fn();
  } finally {
    end(phase);
  }
}

/** Runs an async fn as a phase. Only for a wait with nothing else running on this thread meanwhile (phases must nest). */
export async function timedAsync<T>(phase: string, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  start(phase);
  try {
    return await fn();
  } finally {
    end(phase);
  }
}

/** Charges time measured elsewhere (node's startup, a launcher) to a phase. */
export function add(phase: string, ms: number): void {
  if (enabled) totals.set(phase, (totals.get(phase) ?? 0) + ms);
}

/** The phases so far, rounded to 0.1 ms, biggest first. */
export function phaseTimes(): PhaseTimes {
  const out: PhaseTimes = {};
  for (const [k, v] of [...totals].sort((a, b) => b[1] - a[1])) out[k] = Math.round(v * 10) / 10;
  return out;
}

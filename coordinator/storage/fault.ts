/**
 * Fault injection for the crash test: with `FL_FAULT_KILL_<POINT>=p` in the
 * environment, the process kills itself with SIGKILL at that point with
 * probability p. Without it (always, in normal runs) this does nothing.
 * @module
 */

const cache = new Map<string, number>();

function probability(point: string): number {
  let p = cache.get(point);
  if (p === undefined) {
    let value: string | undefined;
    try {
      value = Deno.env.get(`FL_FAULT_KILL_${point}`);
    } catch {
      value = undefined; // no --allow-env: no faults
    }
    p = Number(value ?? 0) || 0;
    cache.set(point, p);
  }
  return p;
}

/** Kills this process at `point` if fault injection asks for it. */
export function maybeCrash(point: "CHECKPOINT" | "COMMIT" | "SPOOL_SYNC"): void {
  const p = probability(point);
  if (p > 0 && Math.random() < p) {
    console.error(`fault injection: SIGKILL at ${point}`);
    Deno.kill(Deno.pid, "SIGKILL");
  }
}

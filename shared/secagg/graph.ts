/**
 * SecAgg+'s communication graph (Bell et al. 2020): each client exchanges
 * keys and shares with `degree` neighbours instead of everyone, on a ring of
 * the clients in a shuffled order (a Harary graph: the degree/2 clients on
 * each side). The order comes from a public seed, so every party computes the
 * same graph.
 * @module
 */
import { seededRandom, shuffle } from "../random.ts";

/**
 * Each client's neighbours (not itself): the ceil(degree / 2) nearest on each
 * side of the shuffled ring (so an odd degree rounds up to the next even
 * one), or all others when that covers the ring.
 *
 * @example
 * ```ts
 * import { neighbourGraph } from "./graph.ts";
 * import assert from "node:assert/strict";
 * const graph = neighbourGraph(["a", "b", "c", "d", "e", "f"], { degree: 2, seed: 1 });
 * for (const [id, peers] of graph) {
 *   assert.equal(peers.size, 2);
 *   for (const peer of peers) assert.ok(graph.get(peer)!.has(id));
 * }
 * ```
 */
export function neighbourGraph(
  ids: readonly string[],
  options: { degree: number; seed: number },
): Map<string, Set<string>> {
  const { degree, seed } = options;
  if (new Set(ids).size !== ids.length) throw new RangeError("Cannot build a graph: ids repeat");
  if (!(Number.isInteger(degree) && degree >= 1)) {
    throw new RangeError(`Cannot build a graph: degree must be a positive integer, got ${degree}`);
  }
  const graph = new Map(ids.map((id) => [id, new Set<string>()]));
  const n = ids.length;
  const side = Math.ceil(degree / 2);
  if (2 * side >= n - 1) {
    for (const id of ids) for (const other of ids) if (other !== id) graph.get(id)!.add(other);
    return graph;
  }
  const ring = shuffle([...ids].sort(), seededRandom(seed));
  for (let i = 0; i < n; i++) {
    for (let k = 1; k <= side; k++) {
      const a = ring[i]!;
      const b = ring[(i + k) % n]!;
      graph.get(a)!.add(b);
      graph.get(b)!.add(a);
    }
  }
  return graph;
}

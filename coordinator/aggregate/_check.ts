// Shape checks shared by the aggregation functions.

/** Throws a RangeError naming `what` unless every delta has the first one's tensor sizes. */
export function checkShapes(what: string, deltas: readonly (readonly Float32Array[])[]): void {
  const first = deltas[0];
  if (!first) return;
  deltas.forEach((delta, c) => {
    if (delta.length !== first.length) {
      throw new RangeError(
        `Cannot aggregate (${what}): client ${c} has ${delta.length} tensors, expected ${first.length}`,
      );
    }
    delta.forEach((tensor, t) => {
      if (tensor.length !== first[t]!.length) {
        throw new RangeError(
          `Cannot aggregate (${what}): tensor ${t} of client ${c} has ${tensor.length} values, expected ${
            first[t]!.length
          }`,
        );
      }
    });
  });
}

/**
 * `deno task bench`: the benchmarks, each against a reference measured in the
 * same run.
 * @module
 */
export {};

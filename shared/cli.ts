/**
 * What the command lines (demo, coordinator, client) share: parsing flags,
 * checking numbers, and failing with a clear message.
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";

/**
 * Prints `error: message` to stderr and exits with status 2.
 *
 * @example
 * ```ts ignore
 * import { fail } from "./cli.ts";
 * fail('--port "x" is not a port number');
 * ```
 */
export function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(2);
}

/**
 * Parses `args` as `--name value` flags (all strings; those in
 * `options.multiple` may repeat and give a list) plus `-h`/`--help`, which
 * prints `help` and exits. An unknown flag fails with the help text.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./cli.ts";
 * import assert from "node:assert/strict";
 * const flags = parseFlags(["--port", "80", "--task", "a", "--task", "b"], ["port"], "usage", { multiple: ["task"] });
 * assert.equal(flags.port, "80");
 * assert.deepEqual(flags.task, ["a", "b"]);
 * ```
 */
export function parseFlags<
  const N extends string,
  const M extends string = never,
  const B extends string = never,
>(
  args: string[],
  names: readonly N[],
  help: string,
  options: { multiple?: readonly M[]; booleans?: readonly B[] } = {},
): Partial<Record<N, string>> & Partial<Record<M, string[]>> & Partial<Record<B, boolean>> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        ...Object.fromEntries(names.map((name) => [name, { type: "string" as const }])),
        ...Object.fromEntries(
          (options.multiple ?? []).map((
            name,
          ) => [name, { type: "string" as const, multiple: true }]),
        ),
        ...Object.fromEntries(
          (options.booleans ?? []).map((name) => [name, { type: "boolean" as const }]),
        ),
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    fail(`${error instanceof Error ? error.message : error}\n\n${help}`);
  }
  if (values.help) {
    console.log(help);
    process.exit(0);
  }
  return values as
    & Partial<Record<N, string>>
    & Partial<Record<M, string[]>>
    & Partial<Record<B, boolean>>;
}

/** Bounds of {@linkcode numberFlag}. */
export interface NumberFlagOptions {
  /** Smallest value allowed. @default -Infinity */
  min?: number;
  /** Largest value allowed. @default Infinity */
  max?: number;
  /** Whether only integers are allowed. @default false */
  integer?: boolean;
}

/**
 * The number given to `--name`, or `fallback` when absent; fails with a clear
 * message when it is not a number within bounds.
 *
 * @example
 * ```ts
 * import { numberFlag } from "./cli.ts";
 * import assert from "node:assert/strict";
 * assert.equal(numberFlag("rounds", "3", 10, { min: 1, integer: true }), 3);
 * assert.equal(numberFlag("rounds", undefined, 10), 10);
 * ```
 */
export function numberFlag<T extends number | undefined>(
  name: string,
  value: string | undefined,
  fallback: T,
  options: NumberFlagOptions = {},
): number | T {
  if (value === undefined) return fallback;
  const { min = -Infinity, max = Infinity, integer = false } = options;
  const n = value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    const kind = integer ? "an integer" : "a number";
    const range = min > -Infinity && max < Infinity
      ? ` in [${min}, ${max}]`
      : min > -Infinity
      ? ` of at least ${min}`
      : max < Infinity
      ? ` of at most ${max}`
      : "";
    fail(`--${name} "${value}" is not ${kind}${range}`);
  }
  return n;
}

/**
 * The Dirichlet beta given to `--name`: a positive number or `iid`.
 *
 * @example
 * ```ts
 * import { betaFlag } from "./cli.ts";
 * import assert from "node:assert/strict";
 * assert.equal(betaFlag("beta", "iid", 0.5), "iid");
 * ```
 */
export function betaFlag(
  name: string,
  value: string | undefined,
  fallback: number | "iid",
): number | "iid" {
  if (value === "iid" || (value === undefined && fallback === "iid")) return "iid";
  return numberFlag(name, value, fallback as number, { min: Number.MIN_VALUE });
}

/**
 * A `KEY=VALUE,...` flag as an object; numbers and booleans are converted.
 * Exits with a message naming the flag when a pair has no `=`.
 *
 * @example
 * ```ts
 * import { keyValueFlag } from "./cli.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(keyValueFlag("aggregation", "krumF=2,acceptFailures=false,x=a"), { krumF: 2, acceptFailures: false, x: "a" });
 * ```
 */
export function keyValueFlag(name: string, text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at <= 0) fail(`--${name}: "${pair}" is not KEY=VALUE`);
    const key = pair.slice(0, at);
    const value = pair.slice(at + 1);
    out[key] = value === "true"
      ? true
      : value === "false"
      ? false
      : value !== "" && Number.isFinite(Number(value))
      ? Number(value)
      : value;
  }
  return out;
}

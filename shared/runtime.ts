/**
 * The name and version of the JavaScript runtime a client runs in, as it is
 * reported to the coordinator.
 * @module
 */

/**
 * `deno 2.1.0`, `node 20.1.0`, or a browser's engine and version
 * (`chromium 150`, `firefox 140` ...), `unknown` otherwise; a Web Worker adds
 * nothing.
 *
 * @example
 * ```ts
 * import { describeRuntime } from "./runtime.ts";
 * import assert from "node:assert/strict";
 * assert.match(describeRuntime(), /^deno \d/);
 * ```
 */
export function describeRuntime(): string {
  const g = globalThis as {
    Deno?: { version?: { deno?: string } };
    process?: { versions?: { node?: string } };
    navigator?: { userAgent?: string };
  };
  if (g.Deno?.version?.deno) return `deno ${g.Deno.version.deno}`;
  if (g.process?.versions?.node) return `node ${g.process.versions.node}`;
  const agent = g.navigator?.userAgent ?? "";
  const match = /(Edg|Firefox|Chrome|Chromium|Version)\/(\d+)/.exec(agent);
  if (!match) return "unknown";
  const engine = match[1] === "Edg"
    ? "edge"
    : match[1] === "Version"
    ? "safari"
    : match[1] === "Firefox"
    ? "firefox"
    : /HeadlessChrome/.test(agent)
    ? "chromium-headless"
    : "chromium";
  return `${engine} ${match[2]}`;
}

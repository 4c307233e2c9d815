/**
 * The coordinator's log: plain lines for people, or JSON lines for log
 * collectors (`--log-format json`), with levels (`--log-level`).
 * @module
 */

/** Levels, from the most detailed. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** `text` (a plain line) or `json` (one object a line). @default "text" */
  format?: "text" | "json";
  /** Lines below this level are dropped. @default "info" */
  level?: LogLevel;
  /** Where lines go. @default console.log below warn, console.error from warn */
  write?: (line: string, level: LogLevel) => void;
  /** The clock. @default () => new Date() */
  now?: () => Date;
}

/** Writes one line per call at its level; `fields` become JSON keys (or are left out of text lines). */
export type Logger = Record<LogLevel, (message: string, fields?: Record<string, unknown>) => void>;

/**
 * A logger. In `json`, each line is `{"time", "level", "msg", ...fields}`.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const log = createLogger({ format: "json", write: (l) => lines.push(l), now: () => new Date(0) });
 * log.info("round closed", { round: 1 });
 * log.debug("dropped");
 * assert.deepEqual(lines.map((l) => JSON.parse(l)), [
 *   { time: "1970-01-01T00:00:00.000Z", level: "info", msg: "round closed", round: 1 },
 * ]);
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { format = "text", level = "info", now = () => new Date() } = options;
  const write = options.write ??
    ((line: string, at: LogLevel) =>
      at === "warn" || at === "error" ? console.error(line) : console.log(line));
  const threshold = LOG_LEVELS.indexOf(level);
  const line = (at: LogLevel) => (message: string, fields: Record<string, unknown> = {}) => {
    if (LOG_LEVELS.indexOf(at) < threshold) return;
    write(
      format === "json"
        ? JSON.stringify({ time: now().toISOString(), level: at, msg: message, ...fields })
        : message,
      at,
    );
  };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

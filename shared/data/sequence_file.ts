/**
 * A sequence task's data file: JSONL examples (see `sequence_rows.ts`), or
 * `label,text` CSV for sequence classification.
 * @module
 */
import type { Dataset } from "./dataset.ts";
import { DataFileError, parseLabelTextCsv } from "./csv.ts";
import type { InputSpec } from "../schemas/mod.ts";
import { type SequenceExample, SequenceExampleError, sequenceRows } from "./sequence_rows.ts";

/**
 * Parses a sequence task's data file; errors are {@linkcode DataFileError}s naming the line.
 *
 * @example
 * ```ts
 * import { parseSequenceFile } from "./sequence_file.ts";
 * import { buildVocabulary } from "../tokenizer/tokenizer.ts";
 * import assert from "node:assert/strict";
 * const vocabulary = await buildVocabulary(["the jury said"], { minCount: 1 });
 * const input = {
 *   shape: [4],
 *   labels: ["DET", "NOUN", "VERB"],
 *   sequence: { kind: "token-classification" as const, maxLength: 4, vocabulary },
 * };
 * const rows = parseSequenceFile('{"tokens": ["The", "jury"], "tags": ["DET", null]}\n', {
 *   format: "jsonl",
 *   input,
 * });
 * assert.deepEqual([...rows.labels], [0, -1, -1, -1]);
 * ```
 */
export function parseSequenceFile(
  text: string,
  options: { format: "jsonl" | "csv"; input: InputSpec },
): Dataset {
  const examples: SequenceExample[] = [];
  const lines: number[] = [];
  if (options.format === "jsonl") {
    text.split(/\r?\n/).forEach((raw, i) => {
      if (raw.trim() === "") return;
      try {
        examples.push(JSON.parse(raw));
      } catch (error) {
        throw new DataFileError(i + 1, `invalid JSON: ${(error as Error).message}`);
      }
      lines.push(i + 1);
    });
  } else {
    if (options.input.sequence!.kind !== "sequence-classification") {
      throw new DataFileError(
        1,
        `a ${options.input.sequence!.kind} task reads JSONL files (.jsonl), not CSV`,
      );
    }
    for (const record of parseLabelTextCsv(text)) {
      examples.push({ label: record.label, text: record.text });
      lines.push(record.line);
    }
  }
  if (examples.length === 0) throw new DataFileError(1, "the file holds no row");
  try {
    return sequenceRows(examples, options.input, (index) => `line ${lines[index]}`);
  } catch (error) {
    if (!(error instanceof SequenceExampleError)) throw error;
    throw new DataFileError(
      Number(/^line (\d+)/.exec(error.message)?.[1] ?? 1),
      error.message.replace(/^line \d+: /, ""),
    );
  }
}

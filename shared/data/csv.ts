/**
 * CSV as RFC 4180 has it, and the error of a data file that names its line.
 * @module
 */

/** A data file that cannot be read; the message names the line. */
export class DataFileError extends SyntaxError {
  /** 1-based line number of the problem. */
  readonly line: number;

  /** Creates the error for `line`. */
  constructor(line: number, detail: string) {
    super(`Cannot read data: line ${line}: ${detail}`);
    this.name = "DataFileError";
    this.line = line;
  }
}

/** One record of a CSV file ({@linkcode parseCsv}). */
export interface CsvRecord {
  /** 1-based line the record starts on. */
  line: number;
  /** The fields, unquoted. */
  fields: string[];
}

/**
 * Splits CSV text into records as RFC 4180 has it: fields separated by commas,
 * records by LF or CRLF; a field in double quotes may hold commas, line breaks
 * and doubled quotes (`""` for `"`). Spaces around a quoted field are dropped.
 * A blank line is a record of one empty field. Throws a
 * {@linkcode DataFileError} on an unclosed quote or a stray one.
 *
 * @example
 * ```ts
 * import { parseCsv } from "./data_file.ts";
 * import assert from "node:assert/strict";
 * const records = parseCsv('label,text\npos,"fine, ""really""\nfine"\nneg,bad\n');
 * assert.deepEqual(records, [
 *   { line: 1, fields: ["label", "text"] },
 *   { line: 2, fields: ["pos", 'fine, "really"\nfine'] },
 *   { line: 4, fields: ["neg", "bad"] },
 * ]);
 * ```
 */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  const end = text.length;
  let i = 0;
  let line = 1;
  while (i < end) {
    const record: CsvRecord = { line, fields: [] };
    records.push(record);
    for (;;) {
      // One field, starting at i.
      let j = i;
      while (j < end && (text[j] === " " || text[j] === "\t")) j++;
      if (text[j] === '"') {
        const opened = line;
        let value = "";
        let k = j + 1;
        for (;;) {
          const quote = text.indexOf('"', k);
          if (quote < 0) throw new DataFileError(opened, "a quoted field is not closed");
          const chunk = text.slice(k, quote);
          for (let n = chunk.indexOf("\n"); n >= 0; n = chunk.indexOf("\n", n + 1)) line++;
          value += chunk;
          if (text[quote + 1] === '"') {
            value += '"';
            k = quote + 2;
          } else {
            k = quote + 1;
            break;
          }
        }
        while (k < end && (text[k] === " " || text[k] === "\t")) k++;
        const next = text[k];
        if (
          next !== undefined && next !== "," && next !== "\n" && text.slice(k, k + 2) !== "\r\n"
        ) {
          throw new DataFileError(line, `unexpected "${next}" after a quoted field`);
        }
        record.fields.push(value);
        i = k;
      } else {
        let k = i;
        while (k < end && text[k] !== "," && text[k] !== "\n") {
          if (text[k] === '"') {
            throw new DataFileError(
              line,
              "a quote inside an unquoted field; quote the whole field and double the quote",
            );
          }
          k++;
        }
        const stop = text[k] === "\n" && text[k - 1] === "\r" ? k - 1 : k;
        record.fields.push(text.slice(i, Math.max(stop, i)));
        i = k;
      }
      // i is at a comma, a line break (LF or CRLF) or the end.
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "\r") i++;
      if (text[i] === "\n") {
        i++;
        line++;
      }
      break;
    }
  }
  return records;
}

/**
 * The records of a `label,text` CSV file (text tasks): the header checked,
 * blank lines skipped, each record's label (trimmed) and text with the line
 * it starts on. Errors are {@linkcode DataFileError}s naming the line.
 *
 * @example
 * ```ts
 * import { parseLabelTextCsv } from "./csv.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseLabelTextCsv("label,text\npos,fine\n"), [{ line: 2, label: "pos", text: "fine" }]);
 * ```
 */
export function parseLabelTextCsv(text: string): { line: number; label: string; text: string }[] {
  const [header, ...records] = parseCsv(text);
  const columns = header?.fields.map((c) => c.trim());
  if (!columns || columns.length !== 2 || columns[0] !== "label" || columns[1] !== "text") {
    throw new DataFileError(header?.line ?? 1, 'the header must be "label,text"');
  }
  const out = [];
  for (const { line, fields } of records) {
    if (fields.length === 1 && fields[0]!.trim() === "") continue;
    if (fields.length !== 2) {
      throw new DataFileError(line, `expected 2 columns (label and text), got ${fields.length}`);
    }
    out.push({ line, label: fields[0]!.trim(), text: fields[1]! });
  }
  return out;
}

// A sequence task file's vocabulary and shape, resolved before the file is
// validated: `input.sequence.vocabulary` may be the vocabulary itself, the
// path of a JSON file holding one, or `{from, minCount, maxSize, lowercase}`
// to build it from JSONL data (the words of each line's "text", or its
// "tokens"); `input.shape` defaults to `[maxLength]`. And a task file's
// built-in Brown model (`model.builtin: brown-lm | brown-pos`).
import { z } from "zod";
import { readFile } from "node:fs/promises";
import { formatZodError } from "../../shared/schemas/mod.ts";
import { vocabularyOfWords, words } from "../../shared/tokenizer/tokenizer.ts";

/** `input.sequence.vocabulary: {from: ...}`: a vocabulary built from data files. */
const BuildVocabularySchema = z.strictObject({
  /** JSONL files whose lines hold "text" or "tokens". */
  from: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  minCount: z.int().min(1).default(2),
  maxSize: z.int().min(6).max(1 << 20).default(30000),
  lowercase: z.boolean().default(true),
});

/** The words of a JSONL data file, line by line ("tokens" as given, "text" split). */
async function* wordsOfFile(path: string, lowercase: boolean): AsyncIterable<string> {
  const text = await readFile(path, "utf8");
  let line = 0;
  for (const raw of text.split(/\r?\n/)) {
    line++;
    if (raw.trim() === "") continue;
    let row: { text?: unknown; tokens?: unknown };
    try {
      row = JSON.parse(raw);
    } catch {
      throw new Error(`"${path}" line ${line}: invalid JSON`);
    }
    if (typeof row?.text === "string") yield* words(row.text, lowercase);
    else if (Array.isArray(row?.tokens)) yield* row.tokens.filter((t) => typeof t === "string");
    else throw new Error(`"${path}" line ${line}: expected "text" or "tokens"`);
  }
}

/**
 * The task file with its sequence vocabulary resolved and its shape filled
 * in; `path` resolves (and confines) a path of the file; errors name the field.
 */
export async function resolveSequenceInput(
  raw: unknown,
  path: (p: string, field: string) => string,
): Promise<unknown> {
  const file = raw as { input?: { shape?: unknown; sequence?: Record<string, unknown> } };
  const sequence = file?.input?.sequence;
  if (!sequence || typeof sequence !== "object") return raw;
  const field = "input.sequence.vocabulary";
  let vocabulary = sequence.vocabulary;
  if (typeof vocabulary === "string") {
    const location = path(vocabulary, field);
    try {
      vocabulary = JSON.parse(await readFile(location, "utf8"));
    } catch (error) {
      throw new Error(`${field}: cannot read "${location}": ${(error as Error).message}`);
    }
  } else if (vocabulary && typeof vocabulary === "object" && "from" in vocabulary) {
    const parsed = BuildVocabularySchema.safeParse(vocabulary);
    if (!parsed.success) throw new Error(`${field}: ${formatZodError(parsed.error)}`);
    const { from, lowercase, ...counts } = parsed.data;
    const all: string[] = [];
    for (const source of [from].flat()) {
      const location = path(source, `${field}.from`);
      try {
        for await (const word of wordsOfFile(location, lowercase)) all.push(word);
      } catch (error) {
        throw new Error(`${field}.from: ${(error as Error).message}`);
      }
    }
    vocabulary = await vocabularyOfWords(all, { ...counts, lowercase });
  }
  const maxLength = sequence.maxLength;
  return {
    ...file,
    input: {
      ...file.input,
      shape: file.input!.shape ?? [maxLength],
      sequence: { ...sequence, vocabulary },
    },
  };
}

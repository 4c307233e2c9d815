/**
 * `deno task brown-data --out DIR`: the Brown corpus's training documents
 * as the JSONL files clients of `brown-pos` and `brown-lm` read, one file a
 * genre (the natural non-IID partition), and the holdout documents beside
 * them: `pos/<genre>.jsonl` (a sentence a line, `tokens` and `tags`; with
 * `--untagged F`, that fraction of the sentences without their tags),
 * `lm/<genre>.jsonl` (a document a line, its `text`), and `holdout.jsonl`
 * of each. The split is the built-in tasks' own (whole documents held out).
 * @module
 */
import { join } from "node:path";
import { fail, numberFlag, parseFlags } from "../shared/cli.ts";
import { loadBrown } from "../shared/data/brown.ts";
import { brownGenres, splitBrown } from "../shared/data/brown_sequences.ts";
import type { BrownDocument } from "../shared/data/brown.ts";
import { seededRandom } from "../shared/random.ts";

const HELP = `Usage: deno task brown-data --out DIR [--untagged F] [--seed N]

Writes the Brown corpus as client data files: DIR/pos/<genre>.jsonl (tagged
sentences) and DIR/lm/<genre>.jsonl (documents as text), one file a genre, and
DIR/pos/holdout.jsonl, DIR/lm/holdout.jsonl (the documents no client holds).

Options:
  --out DIR       the folder to write (required)
  --untagged F    fraction of each genre's sentences written without tags (default 0)
  --seed N        seed of which sentences lose their tags (default 0)`;

const args = parseFlags(Deno.args, ["out", "untagged", "seed"], HELP);
if (!args.out) fail(`--out is required\n\n${HELP}`);
const untagged = numberFlag("untagged", args.untagged, 0, { min: 0, max: 1 });
const random = seededRandom(numberFlag("seed", args.seed, 0, { integer: true }));

const { train, holdout } = splitBrown(await loadBrown(), { holdoutDocuments: 20, seed: 0 });
const pos = (docs: BrownDocument[], hide: number) =>
  docs.flatMap((d) => d.sentences).map((s) =>
    JSON.stringify(random() < hide ? { tokens: s.words } : { tokens: s.words, tags: s.tags })
  );
const lm = (docs: BrownDocument[]) =>
  docs.map((d) => JSON.stringify({ text: d.sentences.map((s) => s.words.join(" ")).join(" ") }));
for (const kind of ["pos", "lm"]) await Deno.mkdir(join(args.out, kind), { recursive: true });
const write = (path: string, lines: string[]) =>
  Deno.writeTextFile(join(args.out!, path), lines.join("\n") + "\n");
for (const [genre, docs] of brownGenres(train)) {
  await write(join("pos", `${genre}.jsonl`), pos(docs, untagged));
  await write(join("lm", `${genre}.jsonl`), lm(docs));
}
await write(join("pos", "holdout.jsonl"), pos(holdout, 0));
await write(join("lm", "holdout.jsonl"), lm(holdout));
console.log(
  `brown-data: ${train.length} training documents in ${
    brownGenres(train).size
  } genres, ${holdout.length} held out, in ${args.out}/{pos,lm}`,
);

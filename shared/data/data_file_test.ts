import assert from "node:assert/strict";
import { DataFileError, type DataFormat, formatOf, parseCsv, parseDataFile } from "./data_file.ts";
import { encodeText } from "../preprocess/text.ts";
import type { InputSpec, TextInput } from "../schemas/mod.ts";

const LABELS = ["cat", "dog", "bird"];
const SHAPE = [2, 2];

function parse(text: string, format: DataFormat, labels = LABELS, featureShape = SHAPE) {
  return parseDataFile(text, { format, input: { shape: featureShape, labels } });
}

/** Rows of a small dataset: 4 features each, labels as indices (-1 for none). */
const ROWS: { x: number[]; label: number }[] = [
  { x: [0, 0.5, 1, -2], label: 0 },
  { x: [1.25, 3, 1e-3, 7], label: -1 },
  { x: [-0.75, 0, 0, 255], label: 2 },
  { x: [4, 5, 6, 7], label: 1 },
];

/** Asserts that parsing gave back `rows` exactly (values are float32-exact). */
function assertRows(
  dataset: ReturnType<typeof parseDataFile>,
  rows: { x: number[]; label: number }[],
  featureShape = SHAPE,
) {
  assert.ok(dataset.x instanceof Float32Array);
  assert.ok(dataset.labels instanceof Int32Array);
  assert.deepEqual(dataset.featureShape, featureShape);
  assert.equal(dataset.numClasses, LABELS.length);
  assert.deepEqual([...dataset.labels], rows.map((r) => r.label));
  assert.deepEqual([...dataset.x], rows.flatMap((r) => r.x.map((v) => Math.fround(v))));
}

/** Asserts that `fn` throws a DataFileError for `line` whose message matches `detail`. */
function assertDataFileError(fn: () => unknown, line: number, detail: RegExp) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DataFileError, `expected a DataFileError, got ${error}`);
    assert.ok(error instanceof SyntaxError);
    assert.equal(error.name, "DataFileError");
    assert.equal(error.line, line);
    assert.ok(
      error.message.startsWith(`Cannot read data: line ${line}: `),
      `message "${error.message}" does not name line ${line}`,
    );
    assert.match(error.message, detail);
    return true;
  });
}

function toJsonl(rows: { x: number[]; label: unknown }[]): string {
  return rows.map((r) => JSON.stringify(r.label === undefined ? { x: r.x } : r)).join("\n") +
    "\n";
}

function toCsv(rows: { x: number[]; label: string }[]): string {
  const header = ["label", ...rows[0]!.x.map((_, i) => `x${i}`)].join(",");
  return [header, ...rows.map((r) => [r.label, ...r.x].join(","))].join("\n") + "\n";
}

Deno.test("parseDataFile() round-trips JSONL rows with labels given by index", () => {
  const text = toJsonl(ROWS.map((r) => ({ x: r.x, label: r.label === -1 ? null : r.label })));
  assertRows(parse(text, "jsonl"), ROWS);
});

Deno.test("parseDataFile() round-trips JSONL rows with labels given by name", () => {
  const text = toJsonl(
    ROWS.map((r) => ({ x: r.x, label: r.label === -1 ? undefined : LABELS[r.label] })),
  );
  assertRows(parse(text, "jsonl"), ROWS);
});

Deno.test("parseDataFile() reads a missing, null or empty JSONL label as unlabeled (-1)", () => {
  const text = [
    '{"x": [1, 2, 3, 4]}',
    '{"x": [1, 2, 3, 4], "label": null}',
    '{"x": [1, 2, 3, 4], "label": ""}',
    '{"x": [1, 2, 3, 4], "label": 0}',
  ].join("\n");
  assert.deepEqual([...parse(text, "jsonl").labels], [-1, -1, -1, 0]);
});

Deno.test("parseDataFile() prefers a label name over an index when names are digits", () => {
  // Class names "1" and "0" in swapped order: the string "1" is a name (index 0),
  // the number 1 is an index.
  const text = '{"x": [0, 0], "label": "1"}\n{"x": [0, 0], "label": 1}\n';
  const dataset = parseDataFile(text, {
    format: "jsonl",
    input: { shape: [2], labels: ["1", "0"] },
  });
  assert.deepEqual([...dataset.labels], [0, 1]);
});

Deno.test("parseDataFile() round-trips CSV rows with labels given by index", () => {
  const text = toCsv(ROWS.map((r) => ({ x: r.x, label: r.label === -1 ? "" : String(r.label) })));
  assertRows(parse(text, "csv"), ROWS);
});

Deno.test("parseDataFile() round-trips CSV rows with labels given by name", () => {
  const text = toCsv(ROWS.map((r) => ({ x: r.x, label: r.label === -1 ? "" : LABELS[r.label]! })));
  assertRows(parse(text, "csv"), ROWS);
});

Deno.test("parseDataFile() reads an empty or blank CSV label cell as unlabeled (-1)", () => {
  const text = "label,a,b,c,d\n,1,2,3,4\n  ,1,2,3,4\ndog,1,2,3,4\n";
  assert.deepEqual([...parse(text, "csv").labels], [-1, -1, 1]);
});

Deno.test("parseDataFile() accepts CRLF line endings", async (t) => {
  await t.step("jsonl", () => {
    const text = toJsonl(ROWS.map((r) => ({ x: r.x, label: r.label === -1 ? null : r.label })))
      .replaceAll("\n", "\r\n");
    assertRows(parse(text, "jsonl"), ROWS);
  });
  await t.step("csv", () => {
    const text = toCsv(ROWS.map((r) => ({ x: r.x, label: r.label === -1 ? "" : LABELS[r.label]! })))
      .replaceAll("\n", "\r\n");
    const dataset = parse(text, "csv");
    assertRows(dataset, ROWS);
  });
  await t.step("csv with a CRLF error on line 3 names line 3", () => {
    const text = "label,a,b,c,d\r\n0,1,2,3,4\r\n0,1,2,3\r\n";
    assertDataFileError(() => parse(text, "csv"), 3, /expected 5 columns, got 4/);
  });
});

Deno.test("parseDataFile() skips blank lines but keeps counting them", async (t) => {
  await t.step("jsonl", () => {
    const text = '\n{"x": [1, 2, 3, 4], "label": 1}\n   \n\n{"x": [5, 6, 7, 8]}\n\n';
    const dataset = parse(text, "jsonl");
    assert.deepEqual([...dataset.labels], [1, -1]);
    assert.deepEqual([...dataset.x], [1, 2, 3, 4, 5, 6, 7, 8]);
    // The bad row is on line 4 of the file, after two blank ones.
    assertDataFileError(
      () => parse('\n{"x": [1, 2, 3, 4]}\n\n{"x": [1]}\n', "jsonl"),
      4,
      /expected 4 features, got 1/,
    );
  });
  await t.step("csv", () => {
    const text = "label,a,b,c,d\n\n2,1,2,3,4\n \n,5,6,7,8\n\n";
    const dataset = parse(text, "csv");
    assert.deepEqual([...dataset.labels], [2, -1]);
    assert.deepEqual([...dataset.x], [1, 2, 3, 4, 5, 6, 7, 8]);
    assertDataFileError(
      () => parse("label,a,b,c,d\n\n2,1,2,3,4\n\n2,1,2,x,4\n", "csv"),
      5,
      /feature 2 is "x", not a finite number/,
    );
  });
});

Deno.test("parseDataFile() supports a one-dimensional feature shape", () => {
  const dataset = parseDataFile('{"x": [3, 4, 5], "label": "b"}', {
    format: "jsonl",
    input: { shape: [3], labels: ["a", "b"] },
  });
  assert.deepEqual([...dataset.x], [3, 4, 5]);
  assert.deepEqual([...dataset.labels], [1]);
  assert.deepEqual(dataset.featureShape, [3]);
  assert.equal(dataset.numClasses, 2);
});

Deno.test("parseDataFile() rejects invalid JSON and names its line", () => {
  const text = '{"x": [1, 2, 3, 4]}\n{"x": [1, 2, 3, 4], "label": 0}\n{"x": [1, 2,\n';
  assertDataFileError(() => parse(text, "jsonl"), 3, /invalid JSON/);
});

Deno.test("parseDataFile() rejects a JSONL line that is not an object with an x array", () => {
  assertDataFileError(() => parse('{"x": [1, 2, 3, 4]}\n[1, 2, 3, 4]\n', "jsonl"), 2, /object/);
  assertDataFileError(() => parse("null\n", "jsonl"), 1, /object/);
  assertDataFileError(() => parse('{"x": "1,2,3,4"}\n', "jsonl"), 1, /"x" must be an array/);
  assertDataFileError(() => parse('{"label": 1}\n', "jsonl"), 1, /"x" must be an array/);
});

Deno.test("parseDataFile() rejects a row with the wrong feature count", async (t) => {
  await t.step("jsonl, too few", () => {
    const text = '{"x": [1, 2, 3, 4]}\n{"x": [1, 2, 3]}\n';
    assertDataFileError(() => parse(text, "jsonl"), 2, /expected 4 features, got 3/);
  });
  await t.step("jsonl, too many", () => {
    const text = '{"x": [1, 2, 3, 4, 5]}\n';
    assertDataFileError(() => parse(text, "jsonl"), 1, /expected 4 features, got 5/);
  });
  await t.step("csv header with the wrong number of feature columns", () => {
    assertDataFileError(
      () => parse("label,a,b,c\n0,1,2,3\n", "csv"),
      1,
      /expected 5 columns \(label and 4 features\), got 4/,
    );
  });
});

Deno.test("parseDataFile() rejects a non-numeric or non-finite feature", async (t) => {
  const cases: [string, DataFormat, number, RegExp][] = [
    ['{"x": [1, 2, 3, 4]}\n{"x": [1, "a", 3, 4]}\n', "jsonl", 2, /feature 1 is "a"/],
    ['{"x": [1, 2, null, 4]}\n', "jsonl", 1, /feature 2 is null/],
    ['{"x": [1, 2, 3, true]}\n', "jsonl", 1, /feature 3 is true/],
    ['{"x": [[1], 2, 3, 4]}\n', "jsonl", 1, /feature 0 is \[1\]/],
    ["label,a,b,c,d\n0,1,2,3,4\n1,1,two,3,4\n", "csv", 3, /feature 1 is "two"/],
    ["label,a,b,c,d\n0,1,,3,4\n", "csv", 2, /feature 1 is ""/],
    ["label,a,b,c,d\n0,1,2, ,4\n", "csv", 2, /feature 2 is " "/],
    ["label,a,b,c,d\n0,1,2,3,Infinity\n", "csv", 2, /feature 3 is "Infinity"/],
    ["label,a,b,c,d\n0,NaN,2,3,4\n", "csv", 2, /feature 0 is "NaN"/],
  ];
  for (const [text, format, line, detail] of cases) {
    await t.step(`${format} line ${line}: ${detail.source}`, () => {
      assertDataFileError(() => parse(text, format), line, detail);
      assertDataFileError(() => parse(text, format), line, /not a finite number/);
    });
  }
});

Deno.test("parseDataFile() rejects a label index out of range", async (t) => {
  const cases: [string, DataFormat, number, RegExp][] = [
    ['{"x": [1, 2, 3, 4], "label": 0}\n{"x": [1, 2, 3, 4], "label": 3}\n', "jsonl", 2, /"3"/],
    ['{"x": [1, 2, 3, 4], "label": -1}\n', "jsonl", 1, /"-1"/],
    ['{"x": [1, 2, 3, 4], "label": 1.5}\n', "jsonl", 1, /"1.5"/],
    ["label,a,b,c,d\n2,1,2,3,4\n3,1,2,3,4\n", "csv", 3, /"3"/],
    ["label,a,b,c,d\n17,1,2,3,4\n", "csv", 2, /"17"/],
  ];
  for (const [text, format, line, value] of cases) {
    await t.step(`${format} line ${line}: ${value.source}`, () => {
      assertDataFileError(() => parse(text, format), line, /is not a class index in \[0, 2\]/);
      assertDataFileError(() => parse(text, format), line, value);
    });
  }
});

Deno.test("parseDataFile() rejects an unknown label name", async (t) => {
  await t.step("jsonl", () => {
    const text = '{"x": [1, 2, 3, 4], "label": "dog"}\n{"x": [1, 2, 3, 4], "label": "fish"}\n';
    assertDataFileError(
      () => parse(text, "jsonl"),
      2,
      /label "fish" is not one of the task's labels/,
    );
  });
  await t.step("csv", () => {
    const text = "label,a,b,c,d\ncat,1,2,3,4\nDog,1,2,3,4\n";
    assertDataFileError(() => parse(text, "csv"), 3, /label "Dog" is not one of the task's labels/);
  });
  await t.step("jsonl label of another type", () => {
    const text = '{"x": [1, 2, 3, 4], "label": true}\n';
    assertDataFileError(() => parse(text, "jsonl"), 1, /label must be a number, a string or null/);
  });
});

Deno.test("parseDataFile() rejects a CSV header that does not start with label", () => {
  assertDataFileError(
    () => parse("x0,x1,x2,x3,label\n1,2,3,4,0\n", "csv"),
    1,
    /the header must start with a "label" column/,
  );
  assertDataFileError(
    () => parse("0,1,2,3,4\n1,2,3,4,5\n", "csv"),
    1,
    /the header must start with a "label" column/,
  );
});

Deno.test("parseDataFile() rejects a CSV row with the wrong column count", async (t) => {
  await t.step("too few", () => {
    assertDataFileError(
      () => parse("label,a,b,c,d\n0,1,2,3,4\n0,1,2,3,4\n1,2,3,4\n", "csv"),
      4,
      /expected 5 columns, got 4/,
    );
  });
  await t.step("too many", () => {
    assertDataFileError(
      () => parse("label,a,b,c,d\n0,1,2,3,4,5\n", "csv"),
      2,
      /expected 5 columns, got 6/,
    );
  });
});

Deno.test("parseDataFile() rejects a file with no row", async (t) => {
  await t.step("empty jsonl", () => {
    assertDataFileError(() => parse("", "jsonl"), 1, /the file holds no row/);
  });
  await t.step("blank jsonl", () => {
    assertDataFileError(() => parse("\n  \r\n\n", "jsonl"), 1, /the file holds no row/);
  });
  await t.step("empty csv", () => {
    assertDataFileError(() => parse("", "csv"), 1, /header/);
  });
  await t.step("csv with only a header", () => {
    assertDataFileError(() => parse("label,a,b,c,d\n\n", "csv"), 1, /the file holds no row/);
  });
});

Deno.test("formatOf() picks the format from the file extension", () => {
  assert.equal(formatOf("shard.jsonl"), "jsonl");
  assert.equal(formatOf("data/shard-0.ndjson"), "jsonl");
  assert.equal(formatOf("/tmp/a.b/shard.csv"), "csv");
  assert.equal(formatOf("SHARD.JSONL"), "jsonl");
  assert.equal(formatOf("Shard.CSV"), "csv");
});

Deno.test("formatOf() throws a TypeError on any other extension", () => {
  for (const path of ["shard.json", "shard.txt", "shard", "csv", "shard.csv.gz", "shard.jsonl/"]) {
    assert.throws(
      () => formatOf(path),
      (error: unknown) =>
        error instanceof TypeError && error.message.includes(`"${path}"`) &&
        error.message.includes(".jsonl, .ndjson nor .csv"),
      path,
    );
  }
});

const TEXT: TextInput = { vocabSize: 1000, maxLength: 5, lowercase: true };
const TEXT_INPUT: InputSpec = { shape: [5], labels: ["neg", "pos"], text: TEXT };

function parseText(text: string, format: DataFormat, input: InputSpec = TEXT_INPUT) {
  return parseDataFile(text, { format, input });
}

/** The rows `texts` should become, one after the other. */
function encoded(...texts: string[]): number[] {
  return texts.flatMap((t) => [...encodeText(t, TEXT)]);
}

Deno.test("parseDataFile() reads text JSONL rows as token ids", () => {
  const text = [
    '{"text": "A great film", "label": "pos"}',
    '{"text": "Dull, dull, dull; far too long for what it is", "label": 0}',
    "",
    '{"text": "no label"}',
    '{"text": "", "label": null}',
  ].join("\n");
  const dataset = parseText(text, "jsonl");
  assert.deepEqual(dataset.featureShape, [5]);
  assert.equal(dataset.numClasses, 2);
  assert.deepEqual([...dataset.labels], [1, 0, -1, -1]);
  assert.deepEqual(
    [...dataset.x],
    encoded("A great film", "Dull, dull, dull; far too long for what it is", "no label", ""),
  );
  // Cut to maxLength: the 6th word onwards is dropped; padding is 0.
  assert.deepEqual([...dataset.x.subarray(5, 10)], encoded("dull dull dull far too"));
  assert.deepEqual([...dataset.x.subarray(3, 5)], [0, 0]);
});

Deno.test("parseDataFile() rejects text JSONL rows without a text string and names the line", () => {
  assertDataFileError(
    () => parseText('{"text": "ok"}\n{"x": [1, 2, 3, 4, 5]}\n', "jsonl"),
    2,
    /"text" must be a string/,
  );
  assertDataFileError(() => parseText('{"text": 5}\n', "jsonl"), 1, /"text" must be a string/);
  assertDataFileError(() => parseText('"just text"\n', "jsonl"), 1, /"text" and an optional/);
  assertDataFileError(
    () => parseText('{"text": "ok", "label": "meh"}\n', "jsonl"),
    1,
    /label "meh" is not one of the task's labels/,
  );
  assertDataFileError(() => parseText("\n\n", "jsonl"), 1, /the file holds no row/);
});

Deno.test("parseDataFile() reads a label,text CSV with RFC 4180 quoting", () => {
  const text = [
    "label,text",
    "pos,plain words here",
    'neg,"a comma, inside"',
    ',"doubled ""quotes"" and a',
    'line break"',
    "",
    '1,"CRLF\r\ninside"',
    "pos,",
  ].join("\n");
  const dataset = parseText(text, "csv");
  assert.deepEqual([...dataset.labels], [1, 0, -1, 1, 1]);
  assert.deepEqual(
    [...dataset.x],
    encoded(
      "plain words here",
      "a comma, inside",
      'doubled "quotes" and a\nline break',
      "crlf inside",
      "",
    ),
  );
});

Deno.test("parseDataFile() reads a text CSV with CRLF line endings", () => {
  const text = 'label,text\r\npos,"one, two"\r\n\r\nneg,three\r\n';
  const dataset = parseText(text, "csv");
  assert.deepEqual([...dataset.labels], [1, 0]);
  assert.deepEqual([...dataset.x], encoded("one two", "three"));
});

Deno.test("parseDataFile() names the starting line of a bad text CSV row", async (t) => {
  await t.step("header", () => {
    assertDataFileError(() => parseText("label,x0\npos,a\n", "csv"), 1, /"label,text"/);
    assertDataFileError(() => parseText("", "csv"), 1, /"label,text"/);
  });
  await t.step("a row after a quoted line break", () => {
    const text = 'label,text\npos,"two\nlines"\nfish,x\n';
    assertDataFileError(() => parseText(text, "csv"), 4, /label "fish" is not one/);
  });
  await t.step("too many columns", () => {
    const text = 'label,text\npos,"a\nb",c\n';
    assertDataFileError(
      () => parseText(text, "csv"),
      2,
      /expected 2 columns \(label and text\), got 3/,
    );
  });
  await t.step("unclosed quote names the line it opens on", () => {
    const text = 'label,text\npos,ok\nneg,"never\nclosed\n';
    assertDataFileError(() => parseText(text, "csv"), 3, /a quoted field is not closed/);
  });
  await t.step("stray quotes", () => {
    assertDataFileError(
      () => parseText('label,text\npos,say "hi"\n', "csv"),
      2,
      /a quote inside an unquoted field/,
    );
    assertDataFileError(
      () => parseText('label,text\npos,"hi" there\n', "csv"),
      2,
      /unexpected "t" after a quoted field/,
    );
  });
  await t.step("header only", () => {
    assertDataFileError(() => parseText("label,text\n\n", "csv"), 1, /the file holds no row/);
  });
});

Deno.test("parseDataFile() refuses a text spec whose maxLength does not fill the shape", () => {
  assert.throws(
    () => parseText('{"text": "a"}', "jsonl", { ...TEXT_INPUT, shape: [6] }),
    (error: unknown) => error instanceof TypeError && /maxLength "5"/.test(error.message),
  );
});

Deno.test("parseDataFile() keeps reading x features for image tasks", () => {
  const input: InputSpec = {
    shape: [1, 2, 1],
    labels: ["a", "b"],
    image: { width: 2, height: 1, channels: 1, scale: "0,1", invert: false },
  };
  const dataset = parseDataFile('{"x": [0.25, 1], "label": "b"}\n', { format: "jsonl", input });
  assert.deepEqual([...dataset.x], [0.25, 1]);
  assert.deepEqual(dataset.featureShape, [1, 2, 1]);
});

Deno.test("parseCsv() splits records as RFC 4180 has it", async (t) => {
  await t.step("plain, quoted, empty fields and a missing final newline", () => {
    assert.deepEqual(parseCsv('a,b\n"x,y",\n,""\nlast,"q"'), [
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ["x,y", ""] },
      { line: 3, fields: ["", ""] },
      { line: 4, fields: ["last", "q"] },
    ]);
  });
  await t.step("quoted line breaks move the line count on", () => {
    assert.deepEqual(parseCsv('"1\n2\n3",a\nb\n'), [
      { line: 1, fields: ["1\n2\n3", "a"] },
      { line: 4, fields: ["b"] },
    ]);
  });
  await t.step("blank lines are records of one empty field", () => {
    assert.deepEqual(parseCsv("a\n\nb\r\n\r\n"), [
      { line: 1, fields: ["a"] },
      { line: 2, fields: [""] },
      { line: 3, fields: ["b"] },
      { line: 4, fields: [""] },
    ]);
  });
  await t.step("spaces around a quoted field are dropped, others kept", () => {
    assert.deepEqual(parseCsv(' "a" , b ,""""\n'), [{ line: 1, fields: ["a", " b ", '"'] }]);
  });
  await t.step("a trailing comma ends with an empty field", () => {
    assert.deepEqual(parseCsv("a,"), [{ line: 1, fields: ["a", ""] }]);
    assert.deepEqual(parseCsv(""), []);
  });
});

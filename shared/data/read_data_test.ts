import assert from "node:assert/strict";
import { join } from "node:path";
import { encode as encodePng } from "fast-png";
import { encode as encodeJpeg } from "jpeg-js";
import { encodeText } from "../preprocess/text.ts";
import type { InputSpec } from "../schemas/mod.ts";
import { readDataset } from "./read_data.ts";

/** A 2x2 image task: grey levels in [0, 1], classes cat and dog. */
const IMAGE_INPUT: InputSpec = {
  shape: [2, 2, 1],
  labels: ["cat", "dog"],
  image: { width: 2, height: 2, channels: 1, scale: "0,1", invert: false },
};

const TEXT_INPUT: InputSpec = {
  shape: [3],
  labels: ["neg", "pos"],
  text: { vocabSize: 100, maxLength: 3, lowercase: true },
};

/** A 2x2 grey PNG whose four pixels are all `level`. */
function png(level: number): Uint8Array {
  return encodePng({
    width: 2,
    height: 2,
    channels: 1,
    depth: 8,
    data: new Uint8Array(4).fill(level),
  });
}

/** Runs `fn` in a new temporary folder, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "read_data_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `files` (path relative to `dir` -> bytes or text), making folders as needed. */
async function writeFiles(dir: string, files: Record<string, Uint8Array | string>) {
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, ...name.split("/"));
    await Deno.mkdir(join(path, ".."), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
  }
}

/** The grey level of each row (all four pixels of a row are the same here). */
function levels(x: Float32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < x.length; i += 4) {
    assert.ok(x.subarray(i, i + 4).every((v) => v === x[i]), `row ${i / 4} is not flat`);
    out.push(Math.round(x[i]! * 255));
  }
  return out;
}

async function assertRejects(promise: Promise<unknown>, ...patterns: (string | RegExp)[]) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${error}`);
    for (const pattern of patterns) {
      if (typeof pattern === "string") {
        assert.ok(error.message.includes(pattern), `"${error.message}" lacks "${pattern}"`);
      } else assert.match(error.message, pattern);
    }
    return true;
  });
}

Deno.test("readDataset() labels images by sub-folder, top-level ones unlabeled, sorted by path", async () => {
  await withTempDir(async (dir) => {
    const jpeg = encodeJpeg({ width: 8, height: 8, data: new Uint8Array(256).fill(200) }, 95);
    await writeFiles(dir, {
      "dog/x.jpg": new Uint8Array(jpeg.data),
      "cat/b.png": png(20),
      "cat/a.png": png(10),
      "cat/nested/c.PNG": png(30),
      "u.png": png(40),
      "notes.txt": "not an image",
      "cat/readme.md": "ignored",
      ".hidden/fish.png": png(99),
      "cat/.thumb.png": png(98),
    });
    const dataset = await readDataset(dir, IMAGE_INPUT);
    assert.ok(dataset.x instanceof Float32Array);
    assert.ok(dataset.labels instanceof Int32Array);
    assert.deepEqual(dataset.featureShape, [2, 2, 1]);
    assert.equal(dataset.numClasses, 2);
    // cat/a.png, cat/b.png, cat/nested/c.PNG, dog/x.jpg, u.png
    assert.deepEqual([...dataset.labels], [0, 0, 0, 1, -1]);
    const got = levels(dataset.x);
    assert.deepEqual([got[0], got[1], got[2], got[4]], [10, 20, 30, 40]);
    assert.ok(Math.abs(got[3]! - 200) <= 3, `JPEG level ${got[3]}`);
  });
});

Deno.test("readDataset() reads labels from labels.csv", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "a.png": png(1),
      "b.jpeg": new Uint8Array(encodeJpeg({ width: 2, height: 2, data: new Uint8Array(16) }).data),
      "c.png": png(3),
      "sub/d.png": png(4),
      "e, f.png": png(5),
      "labels.csv": [
        "file,label",
        "a.png,cat",
        "b.jpeg,",
        "./sub/d.png,dog",
        '"e, f.png",1',
        "",
      ].join("\r\n"),
    });
    const dataset = await readDataset(dir, IMAGE_INPUT);
    // a.png, b.jpeg, c.png, "e, f.png", sub/d.png; c.png is not listed.
    assert.deepEqual([...dataset.labels], [0, -1, -1, 1, 1]);
    const got = levels(dataset.x);
    assert.deepEqual([got[0], got[2], got[3], got[4]], [1, 3, 5, 4]);
  });
});

Deno.test("readDataset() reads a folder without labels as unlabeled rows", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "2.png": png(2),
      "1.jpg": new Uint8Array(
        encodeJpeg({ width: 1, height: 1, data: new Uint8Array(4).fill(255) }).data,
      ),
      "10.png": png(10),
    });
    const dataset = await readDataset(dir, IMAGE_INPUT);
    assert.deepEqual([...dataset.labels], [-1, -1, -1]);
    // Sorted by name as strings: 1.jpg, 10.png, 2.png.
    const got = levels(dataset.x);
    assert.deepEqual([got[1], got[2]], [10, 2]);
    assert.ok(got[0]! >= 250);
  });
});

Deno.test("readDataset() applies the task's image preprocessing", async () => {
  await withTempDir(async (dir) => {
    // A 4x4 RGB image: left half red, right half blue, to 2x1 RGB in [-1, 1], inverted.
    const data = new Uint8Array(4 * 4 * 3);
    for (let p = 0; p < 16; p++) data.set(p % 4 < 2 ? [255, 0, 0] : [0, 0, 255], p * 3);
    await writeFiles(dir, {
      "cat/rb.png": encodePng({ width: 4, height: 4, channels: 3, depth: 8, data }),
    });
    const input: InputSpec = {
      shape: [1, 2, 3],
      labels: ["cat", "dog"],
      image: { width: 2, height: 1, channels: 3, scale: "-1,1", invert: true },
    };
    const dataset = await readDataset(dir, input);
    assert.deepEqual([...dataset.x], [-1, 1, 1, 1, 1, -1]);
    assert.deepEqual([...dataset.labels], [0]);
  });
});

Deno.test("readDataset() refuses a sub-folder that is not a label, naming it", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "cat/a.png": png(1), "fish/b.png": png(2) });
    await assertRejects(
      readDataset(dir, IMAGE_INPUT),
      `Cannot read data "${join(dir, "fish")}"`,
      `the sub-folder "fish" is not one of the task's labels (cat, dog)`,
    );
  });
});

Deno.test("readDataset() names an image it cannot decode", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "cat/a.png": png(1), "cat/bad.png": "this is not a PNG" });
    await assertRejects(
      readDataset(dir, IMAGE_INPUT),
      `Cannot read image "${
        join(dir, "cat", "bad.png")
      }": unsupported format, expected PNG or JPEG`,
    );
  });
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "cut.png": png(1).subarray(0, 40) });
    await assertRejects(
      readDataset(dir, IMAGE_INPUT),
      `Cannot read image "${join(dir, "cut.png")}": invalid PNG: `,
    );
  });
});

Deno.test("readDataset() refuses a folder with no usable file", async () => {
  await withTempDir(async (dir) => {
    await assertRejects(
      readDataset(dir, IMAGE_INPUT),
      `Cannot read data "${dir}": the folder holds no .png, .jpg or .jpeg file`,
    );
    await writeFiles(dir, { "a.gif": "GIF89a", "cat/b.txt": "text", "labels.csv": "file,label\n" });
    await assertRejects(readDataset(dir, IMAGE_INPUT), "holds no .png, .jpg or .jpeg file");
    await assertRejects(
      readDataset(join(dir, "cat"), IMAGE_INPUT),
      `Cannot read data "${join(dir, "cat")}": the folder holds no`,
    );
  });
});

Deno.test("readDataset() names labels.csv and the line of its problems", async (t) => {
  const cases: [string, Record<string, string>, string][] = [
    [
      "a bad header",
      { "labels.csv": "name,class\na.png,cat\n" },
      'line 1: the header must be "file,label"',
    ],
    [
      "an unknown label",
      { "labels.csv": "file,label\na.png,cat\nb.png,fish\n" },
      'line 3: label "fish" is not one of the task\'s labels (cat, dog)',
    ],
    [
      "a label index out of range",
      { "labels.csv": "file,label\na.png,2\n" },
      'line 2: label "2" is not one',
    ],
    [
      "a file that is not there",
      { "labels.csv": "file,label\na.png,cat\nmissing.png,dog\n" },
      'line 3: "missing.png" is not a .png, .jpg or .jpeg file in the folder',
    ],
    [
      "a file listed twice",
      { "labels.csv": "file,label\na.png,cat\na.png,dog\n" },
      'line 3: "a.png" is listed twice',
    ],
    [
      "a row of three columns",
      { "labels.csv": "file,label\na.png,cat,x\n" },
      "line 2: expected 2 columns (file and label), got 3",
    ],
    [
      "an unclosed quote",
      { "labels.csv": 'file,label\n"a.png,cat\n' },
      "line 2: a quoted field is not closed",
    ],
  ];
  for (const [what, files, detail] of cases) {
    await t.step(what, async () => {
      await withTempDir(async (dir) => {
        await writeFiles(dir, { "a.png": png(1), "b.png": png(2), ...files });
        await assertRejects(
          readDataset(dir, IMAGE_INPUT),
          `Cannot read data "${join(dir, "labels.csv")}": ${detail}`,
        );
      });
    });
  }
});

Deno.test("readDataset() reads a folder of .txt files for a text task", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "pos/1.txt": "Loved it, loved it!",
      "neg/2.TXT": "\uFEFFBoring.",
      "neg/3.txt": "Far too long and dull",
      "unlabeled.txt": "no idea",
      "image.png": png(1),
    });
    const dataset = await readDataset(dir, TEXT_INPUT);
    assert.deepEqual(dataset.featureShape, [3]);
    assert.equal(dataset.numClasses, 2);
    // neg/2.TXT, neg/3.txt, pos/1.txt, unlabeled.txt
    assert.deepEqual([...dataset.labels], [0, 0, 1, -1]);
    const spec = TEXT_INPUT.text!;
    assert.deepEqual([...dataset.x], [
      ...encodeText("Boring.", spec),
      ...encodeText("far too long", spec),
      ...encodeText("loved it loved", spec),
      ...encodeText("no idea", spec),
    ]);
  });
});

Deno.test("readDataset() reads labels.csv for text folders too, and names bad UTF-8", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "a.txt": "good",
      "b.txt": "bad",
      "labels.csv": "file,label\na.txt,pos\n",
    });
    const dataset = await readDataset(dir, TEXT_INPUT);
    assert.deepEqual([...dataset.labels], [1, -1]);
    await writeFiles(dir, { "c.txt": Uint8Array.of(0x61, 0xff, 0xfe) });
    await assertRejects(
      readDataset(dir, TEXT_INPUT),
      `Cannot read text "${join(dir, "c.txt")}": not valid UTF-8`,
    );
  });
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "a.png": png(1) });
    await assertRejects(readDataset(dir, TEXT_INPUT), "the folder holds no .txt file");
  });
});

Deno.test("readDataset() reads data files and names them in errors", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, {
      "rows.jsonl": '{"x": [0, 0.5, 1, 0], "label": "dog"}\n{"x": [1, 1, 1, 1]}\n',
      "bad.csv": "label,a,b,c,d\ncat,1,2,3,4\ncat,1,2,3\n",
      "texts.csv": 'label,text\npos,"good, very good"\n',
      "rows.parquet": "",
    });
    const rows = await readDataset(join(dir, "rows.jsonl"), IMAGE_INPUT);
    assert.deepEqual([...rows.labels], [1, -1]);
    assert.deepEqual([...rows.x], [0, 0.5, 1, 0, 1, 1, 1, 1]);
    await assertRejects(
      readDataset(join(dir, "bad.csv"), IMAGE_INPUT),
      `Cannot read data "${join(dir, "bad.csv")}": line 3: expected 5 columns, got 4`,
    );
    const texts = await readDataset(join(dir, "texts.csv"), TEXT_INPUT);
    assert.deepEqual([...texts.x], [...encodeText("good very good", TEXT_INPUT.text!)]);
    await assertRejects(
      readDataset(join(dir, "rows.parquet"), IMAGE_INPUT),
      `"${join(dir, "rows.parquet")}" is neither .jsonl, .ndjson nor .csv`,
    );
    await assertRejects(
      readDataset(join(dir, "nothing.csv"), IMAGE_INPUT),
      `Cannot read data "${join(dir, "nothing.csv")}": `,
    );
  });
});

Deno.test("readDataset() refuses a folder for a task without image or text input", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "a.png": png(1) });
    await assertRejects(
      readDataset(dir, { shape: [4], labels: ["a", "b"] }),
      `Cannot read data "${dir}": a folder holds image or text files, but the task takes neither`,
    );
  });
});

Deno.test("readDataset() refuses images that do not fill the task's shape", async () => {
  await withTempDir(async (dir) => {
    await writeFiles(dir, { "a.png": png(1) });
    await assertRejects(
      readDataset(dir, { ...IMAGE_INPUT, shape: [5] }),
      `"${join(dir, "a.png")}": 4 values do not fill shape [5]`,
    );
  });
});

Deno.test("readDataset() follows linked folders once, so a link loop ends", async () => {
  await withTempDir(async (dir) => {
    await withTempDir(async (elsewhere) => {
      await writeFiles(elsewhere, { "d.png": png(7) });
      await writeFiles(dir, { "cat/a.png": png(1) });
      await Deno.symlink(elsewhere, join(dir, "dog"));
      await Deno.symlink(dir, join(dir, "cat", "loop"));
      const dataset = await readDataset(dir, IMAGE_INPUT);
      assert.deepEqual([...dataset.labels], [0, 1]);
      assert.deepEqual(levels(dataset.x), [1, 7]);
    });
  });
});

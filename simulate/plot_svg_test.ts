import assert from "node:assert/strict";
import { linePlotSvg, type PlotSeries } from "./plot_svg.ts";

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;
const TAG =
  /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*"[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g;

/** Throws unless every `&` in `text` starts a known entity or character reference. */
function checkAmpersands(text: string, where: string) {
  for (let i = text.indexOf("&"); i >= 0; i = text.indexOf("&", i + 1)) {
    ENTITY.lastIndex = i;
    assert.ok(ENTITY.test(text), `bare "&" in ${where}: ${JSON.stringify(text.slice(i, i + 12))}`);
  }
}

/**
 * A small XML well-formedness check (Deno has no DOMParser): one root element,
 * tags balanced and properly nested, attributes quoted and not repeated, no
 * stray `<` and no bare `&` in text or attribute values.
 */
function assertWellFormed(xml: string) {
  const stack: string[] = [];
  let roots = 0;
  let last = 0;
  const checkText = (text: string) => {
    assert.ok(!text.includes("<"), `stray "<" in ${JSON.stringify(text.slice(0, 40))}`);
    assert.ok(!text.includes(">"), `stray ">" in ${JSON.stringify(text.slice(0, 40))}`);
    checkAmpersands(text, "text");
    if (stack.length === 0) assert.equal(text.trim(), "", "text outside the root element");
  };
  for (const match of xml.matchAll(TAG)) {
    checkText(xml.slice(last, match.index));
    last = match.index + match[0].length;
    const [, closing, name, attributes = "", selfClosing] = match;
    if (name === undefined) continue; // comment or processing instruction
    if (closing) {
      assert.equal(attributes.trim(), "", `attributes on </${name}>`);
      assert.ok(!selfClosing, `malformed </${name}/>`);
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
      continue;
    }
    const names = [...attributes.matchAll(/([A-Za-z_][\w.:-]*)\s*=\s*"([^"]*)"/g)].map((a) => {
      checkAmpersands(a[2]!, `attribute ${a[1]}`);
      return a[1]!;
    });
    assert.equal(new Set(names).size, names.length, `repeated attribute on <${name}>`);
    if (stack.length === 0) roots++;
    if (!selfClosing) stack.push(name);
  }
  checkText(xml.slice(last));
  assert.deepEqual(stack, [], "unclosed elements");
  assert.equal(roots, 1, "exactly one root element");
}

/** Number of points of each polyline, in document order. */
function polylinePointCounts(svg: string): number[] {
  return [...svg.matchAll(/<polyline points="([^"]*)"/g)].map((m) =>
    m[1]!.split(/\s+/).filter((p) => p !== "").length
  );
}

/** The contents of the first `<g class="NAME">` group (groups of that class do not nest). */
function group(svg: string, name: string): string {
  const start = svg.indexOf(`<g class="${name}"`);
  assert.ok(start >= 0, `no ${name} group`);
  return svg.slice(start, svg.indexOf("</g>", start));
}

function texts(fragment: string): string[] {
  return [...fragment.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
}

function tickValues(svg: string, axis: "x-axis" | "y-axis"): number[] {
  return texts(group(svg, axis)).map(Number);
}

/** Asserts equal 1-2-5 steps and ticks at or beyond `min` and `max`. */
function assertTicksBracket(ticks: number[], min: number, max: number, axis: string) {
  assert.ok(ticks.length >= 2, `${axis}: at least two ticks, got ${ticks}`);
  assert.ok(ticks.every(Number.isFinite), `${axis}: numeric tick labels ${ticks}`);
  assert.ok(ticks[0]! <= min, `${axis}: first tick ${ticks[0]} <= ${min}`);
  assert.ok(ticks.at(-1)! >= max, `${axis}: last tick ${ticks.at(-1)} >= ${max}`);
  const step = Number((ticks[1]! - ticks[0]!).toPrecision(12)); // labels are rounded decimals
  for (let i = 1; i < ticks.length; i++) {
    assert.ok(
      Math.abs(ticks[i]! - ticks[i - 1]! - step) < 1e-9 * Math.max(1, step),
      `${axis}: even`,
    );
  }
  const mantissa = step / 10 ** Math.floor(Math.log10(step));
  assert.ok([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6), `${axis}: 1-2-5 step ${step}`);
}

const CURVES: PlotSeries[] = [
  {
    name: "rdrop-ssl",
    points: Array.from({ length: 20 }, (_, i) => ({ x: i + 1, y: 0.62 + i * 0.015 })),
  },
  {
    name: "supervised",
    points: Array.from({ length: 20 }, (_, i) => ({ x: i + 1, y: 0.6 + i * 0.01 })),
  },
  { name: "centralized", points: [{ x: 1, y: 0.9 }, { x: 20, y: 0.93 }] },
];

Deno.test("assertWellFormed() rejects malformed markup", () => {
  assertWellFormed(`<a x="1"><b/>t &amp; u<!-- c --></a>`);
  for (
    const bad of [
      "<a><b></a></b>",
      "<a>",
      "<a></a><b></b>",
      "<a>x & y</a>",
      "<a>x < y</a>",
      `<a x="1" x="2"></a>`,
      `<a x=1></a>`,
      `<a x="&"></a>`,
      "text<a></a>",
    ]
  ) {
    assert.throws(() => assertWellFormed(bad), assert.AssertionError, bad);
  }
});

Deno.test("linePlotSvg() writes a well-formed standalone SVG document", () => {
  const svg = linePlotSvg(CURVES, {
    title: "Holdout accuracy",
    xLabel: "round",
    yLabel: "accuracy",
  });
  assertWellFormed(svg);
  assert.match(
    svg,
    /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]* viewBox="0 0 720 420" width="720" height="420"/,
  );
  assert.match(svg, /<rect x="0" y="0" width="720" height="420" fill="#ffffff"\/>/);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.deepEqual(
    texts(svg).filter((t) => ["Holdout accuracy", "round", "accuracy"].includes(t)),
    ["Holdout accuracy", "round", "accuracy"],
  );
});

Deno.test("linePlotSvg() draws one polyline with markers per series, in distinct colours", () => {
  const svg = linePlotSvg(CURVES);
  assert.deepEqual(polylinePointCounts(svg), [20, 20, 2]);
  assert.equal(svg.match(/<circle /g)?.length, 42 + 3); // markers + legend swatches
  const colours = [...svg.matchAll(/<polyline [^>]*stroke="(#[0-9A-Fa-f]{6})"/g)].map((m) => m[1]);
  assert.equal(new Set(colours).size, 3);
  assert.ok(!svg.includes("<polygon"), "no band without band values");
});

Deno.test("linePlotSvg() keeps series apart beyond the palette", () => {
  const many = Array.from({ length: 12 }, (_, i) => ({
    name: `arm ${i}`,
    points: [{ x: 0, y: i }, { x: 1, y: i + 1 }],
  }));
  const svg = linePlotSvg(many);
  assertWellFormed(svg);
  assert.deepEqual(polylinePointCounts(svg), Array(12).fill(2));
  const styles = [
    ...svg.matchAll(/<polyline [^>]*stroke="([^"]+)"[^>]*?(?:stroke-dasharray="([^"]+)")?\/>/g),
  ]
    .map((m) => `${m[1]} ${m[2] ?? ""}`);
  assert.equal(new Set(styles).size, 12);
});

Deno.test("linePlotSvg() escapes names and labels in the legend and text", () => {
  const svg = linePlotSvg(
    [{ name: `a <&> "b" 'c'`, points: [{ x: 1, y: 1 }, { x: 2, y: 2 }] }, {
      name: "plain",
      points: [{ x: 1, y: 2 }],
    }],
    { title: "R&D <test>", xLabel: "x < 1", yLabel: `"y"` },
  );
  assertWellFormed(svg);
  assert.deepEqual(texts(group(svg, "legend")), [
    "a &lt;&amp;&gt; &quot;b&quot; &apos;c&apos;",
    "plain",
  ]);
  assert.ok(svg.includes("R&amp;D &lt;test&gt;"));
  assert.ok(svg.includes("x &lt; 1"));
  assert.ok(svg.includes("&quot;y&quot;"));
  assert.ok(!svg.includes("<&>"));
});

Deno.test("linePlotSvg() tick labels bracket the data with 1-2-5 steps", async (t) => {
  const cases: [string, PlotSeries[], [number, number, number, number]][] = [
    ["accuracy curves", CURVES, [1, 20, 0.6, 0.93]],
    ["large values", [{ name: "bytes", points: [{ x: 0, y: 1234 }, { x: 7, y: 98765 }] }], [
      0,
      7,
      1234,
      98765,
    ]],
    ["negative values", [{ name: "n", points: [{ x: -3.3, y: -0.004 }, { x: 4.1, y: 0.0031 }] }], [
      -3.3,
      4.1,
      -0.004,
      0.0031,
    ]],
    ["tiny span", [{ name: "t", points: [{ x: 1, y: 0.9001 }, { x: 1.0002, y: 0.9003 }] }], [
      1,
      1.0002,
      0.9001,
      0.9003,
    ]],
  ];
  for (const [name, series, [xMin, xMax, yMin, yMax]] of cases) {
    await t.step(name, () => {
      const svg = linePlotSvg(series);
      assertWellFormed(svg);
      assertTicksBracket(tickValues(svg, "x-axis"), xMin, xMax, "x");
      assertTicksBracket(tickValues(svg, "y-axis"), yMin, yMax, "y");
      assert.ok(tickValues(svg, "y-axis").length <= 12, "not too many ticks");
    });
  }
});

Deno.test("linePlotSvg() uses whole x steps for whole x values", () => {
  const svg = linePlotSvg([{ name: "r", points: [1, 2, 3, 4, 5].map((x) => ({ x, y: x })) }]);
  assert.deepEqual(tickValues(svg, "x-axis"), [1, 2, 3, 4, 5]);
  const one = linePlotSvg([{ name: "r", points: [{ x: 5, y: 1 }] }]);
  assert.deepEqual(tickValues(one, "x-axis"), [4, 5, 6]);
});

Deno.test("linePlotSvg() draws ±band areas and fits them on the y axis", () => {
  const svg = linePlotSvg([
    {
      name: "a",
      points: [{ x: 1, y: 0.5, band: 0.3 }, { x: 2, y: 0.6, band: 0.1 }, { x: 3, y: 0.7 }],
    },
    { name: "b", points: [{ x: 1, y: 0.4 }] },
  ]);
  assertWellFormed(svg);
  const bands = [
    ...svg.matchAll(/<polygon class="band" points="([^"]*)"[^>]*fill-opacity="0\.2"/g),
  ];
  assert.equal(bands.length, 1);
  assert.equal(bands[0]![1]!.split(" ").length, 6);
  assertTicksBracket(tickValues(svg, "y-axis"), 0.2, 0.8, "y");
});

Deno.test("linePlotSvg() skips NaN and never writes NaN or Infinity", async (t) => {
  const cases: [string, PlotSeries[], number[]][] = [
    ["NaN y and x", [{
      name: "a",
      points: [{ x: 1, y: 0.5 }, { x: 2, y: NaN }, { x: NaN, y: 0.7 }, { x: 4, y: 0.8 }],
    }], [2]],
    ["NaN and infinite band", [{
      name: "a",
      points: [{ x: 1, y: 0.5, band: NaN }, { x: 2, y: 0.6, band: Infinity }, {
        x: 3,
        y: 0.7,
        band: 0.1,
      }],
    }], [3]],
    ["infinite values", [{ name: "a", points: [{ x: 1, y: Infinity }, { x: -Infinity, y: 1 }] }], [
      0,
    ]],
    ["a series of NaN only", [
      { name: "a", points: [{ x: NaN, y: NaN }] },
      { name: "b", points: [{ x: 1, y: 1 }, { x: 2, y: 3 }] },
    ], [0, 2]],
    ["all NaN", [{ name: "NaN", points: [{ x: NaN, y: NaN }, { x: 1, y: NaN }] }], [0]],
  ];
  for (const [name, series, counts] of cases) {
    await t.step(name, () => {
      const svg = linePlotSvg(series);
      assertWellFormed(svg);
      assert.deepEqual(polylinePointCounts(svg), counts);
      const withoutLegend = svg.replace(group(svg, "legend"), "");
      assert.ok(!withoutLegend.includes("NaN"), "no NaN");
      assert.ok(!svg.includes("Infinity"), "no Infinity");
    });
  }
});

Deno.test("linePlotSvg() handles a single point", () => {
  const svg = linePlotSvg([{ name: "one", points: [{ x: 5, y: 0.42 }] }]);
  assertWellFormed(svg);
  assert.deepEqual(polylinePointCounts(svg), [1]);
  assert.ok(!svg.includes("NaN"));
  assertTicksBracket(tickValues(svg, "x-axis"), 5, 5, "x");
  assertTicksBracket(tickValues(svg, "y-axis"), 0.42, 0.42, "y");
  const [cx, cy] = [
    ...svg.matchAll(/<g class="series">\n<polyline[^>]*\/>\n<circle cx="([^"]+)" cy="([^"]+)"/g),
  ][0]!
    .slice(1)
    .map(Number);
  assert.ok(cx! > 0 && cx! < 720 && cy! > 0 && cy! < 420, "the marker is inside the plot");
});

Deno.test("linePlotSvg() handles all-equal y values, including zero", async (t) => {
  for (const y of [0.5, 0, -2, 1e6]) {
    await t.step(`y = ${y}`, () => {
      const svg = linePlotSvg([{ name: "flat", points: [1, 2, 3].map((x) => ({ x, y })) }]);
      assertWellFormed(svg);
      assert.deepEqual(polylinePointCounts(svg), [3]);
      assert.ok(!svg.includes("NaN") && !svg.includes("Infinity"));
      assertTicksBracket(tickValues(svg, "y-axis"), y, y, "y");
    });
  }
});

Deno.test("linePlotSvg() draws empty axes with a note for no data", async (t) => {
  const empties: [string, PlotSeries[]][] = [
    ["no series", []],
    ["no points", [{ name: "a", points: [] }]],
  ];
  for (const [name, series] of empties) {
    await t.step(name, () => {
      const svg = linePlotSvg(series, { title: "Empty", yMin: 0, yMax: 1 });
      assertWellFormed(svg);
      assert.ok(svg.includes(">No data</text>"));
      assert.ok(svg.includes(`<g class="x-axis">`) && svg.includes(`<g class="y-axis">`));
      assert.deepEqual(tickValues(svg, "y-axis").at(0), 0);
      assert.deepEqual(tickValues(svg, "y-axis").at(-1), 1);
      assert.ok(!svg.includes("NaN"));
    });
  }
  const none = linePlotSvg([]);
  assert.deepEqual(polylinePointCounts(none), []);
  assert.ok(!none.includes(`class="legend"`));
});

Deno.test("linePlotSvg() honours yMin, yMax, width and height", () => {
  const svg = linePlotSvg(CURVES, { yMin: 0, yMax: 1, width: 400, height: 300 });
  assertWellFormed(svg);
  assert.match(svg, /viewBox="0 0 400 300" width="400" height="300"/);
  const ticks = tickValues(svg, "y-axis");
  assert.equal(ticks[0], 0);
  assert.equal(ticks.at(-1), 1);
  assert.ok(svg.includes(`clip-path="url(#plot-area)"`));
  // Only one bound: the other still comes from the data.
  const above = tickValues(linePlotSvg(CURVES, { yMin: 0.5 }), "y-axis");
  assert.equal(above[0], 0.5);
  assert.ok(above.at(-1)! >= 0.93);
});

Deno.test("linePlotSvg() is deterministic and rounds numbers to 2 decimals", () => {
  const series: PlotSeries[] = [{
    name: "r",
    points: Array.from({ length: 7 }, (_, i) => ({ x: i / 3, y: Math.sin(i) / 7, band: 1 / 30 })),
  }];
  const svg = linePlotSvg(series, { width: 733.3333 });
  assert.equal(linePlotSvg(series, { width: 733.3333 }), svg);
  const numbers = [...svg.matchAll(/\s(?:[xy][12]?|c[xy]|r|width|height)="([^"]+)"/g)].map((m) =>
    m[1]!
  );
  numbers.push(...[...svg.matchAll(/points="([^"]*)"/g)].flatMap((m) => m[1]!.split(/[ ,]/)));
  assert.ok(numbers.length > 50);
  for (const n of numbers) assert.match(n, /^-?\d+(\.\d{1,2})?$/);
});

Deno.test("linePlotSvg() rejects bad options", () => {
  const series = CURVES;
  for (
    const options of [
      { width: 0 },
      { height: -1 },
      { width: NaN },
      { yMin: 1, yMax: 1 },
      { yMin: 2, yMax: 1 },
      { yMax: NaN },
      { yMin: -Infinity },
    ]
  ) {
    assert.throws(() => linePlotSvg(series, options), RangeError, JSON.stringify(options));
  }
  assert.throws(
    () => linePlotSvg(series, { width: 0 }),
    /width must be a positive number, received "0"/,
  );
});

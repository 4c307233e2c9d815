/**
 * A dependency-free line plot rendered to a self-contained SVG 1.1 document:
 * axes with 1-2-5 ticks, one polyline with markers per series, optional
 * ±band areas and a legend. Pure and deterministic: the same input gives the
 * same string; the caller writes it to a file.
 * @module
 */

/** One named line of a plot. */
export interface PlotSeries {
  /** Legend text. */
  name: string;
  /**
   * Points in drawing order. `band` draws a translucent area from `y - band`
   * to `y + band` (e.g. a standard deviation). Points with a non-finite `x`
   * or `y` are skipped.
   */
  points: { x: number; y: number; band?: number }[];
}

/** Options of {@linkcode linePlotSvg}. */
export interface LinePlotOptions {
  /** Title above the plot. @default none */
  title?: string;
  /** Label under the x axis. @default none */
  xLabel?: string;
  /** Label beside the y axis. @default none */
  yLabel?: string;
  /** Width in pixels. @default {720} */
  width?: number;
  /** Height in pixels. @default {420} */
  height?: number;
  /**
   * Bottom of the y axis.
   * @default the data's minimum (with bands), padded and rounded to a tick
   */
  yMin?: number;
  /**
   * Top of the y axis.
   * @default the data's maximum (with bands), padded and rounded to a tick
   */
  yMax?: number;
}

/** Okabe-Ito colours, ordered for contrast on white (yellow last). */
const PALETTE = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
  "#F0E442",
] as const;
/** Dash patterns, one per round through the palette, so that series 9+ stay distinct. */
const DASHES = ["", "6 3", "2 2", "8 3 2 3"] as const;

const FONT_SIZE = 12;
const LEGEND_ROW = 18;

/** Escapes text for XML content and double-quoted attributes. */
function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** A coordinate rounded to 2 decimals, without `-0`. */
function num(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return String(rounded === 0 ? 0 : rounded);
}

interface Axis {
  lo: number;
  hi: number;
  ticks: { value: number; label: string }[];
}

/** The 1-2-5 step nearest `span / target`, with the decimals its labels need. */
function niceStep(span: number, target: number): { step: number; decimals: number } {
  const raw = span / target;
  let exponent = Math.floor(Math.log10(raw));
  const fraction = raw / 10 ** exponent;
  let mantissa: number;
  if (fraction < 1.5) mantissa = 1;
  else if (fraction < 3) mantissa = 2;
  else if (fraction < 7) mantissa = 5;
  else {
    mantissa = 1;
    exponent++;
  }
  const step = exponent < 0 ? mantissa / 10 ** -exponent : mantissa * 10 ** exponent;
  return { step, decimals: Math.max(0, -exponent) };
}

/**
 * An axis covering `[min, max]` (`[0, 1]` without data): widened when empty,
 * padded by `pad` of the span when there are data, then extended to whole
 * ticks on each side not given by `fixed`. Steps are whole for `integer` data
 * (rounds).
 */
function axis(
  extent: { min?: number; max?: number; pad: number; target: number; integer?: boolean },
  fixed: { lo?: number; hi?: number } = {},
): Axis {
  let lo = extent.min ?? 0;
  let hi = extent.max ?? 1;
  if (!(hi > lo)) {
    const widen = Math.abs(lo) * 0.1 || 1;
    lo -= widen;
    hi += widen;
  }
  const padding = extent.min === undefined ? 0 : (hi - lo) * extent.pad;
  lo = fixed.lo ?? lo - padding;
  hi = fixed.hi ?? hi + padding;
  if (!(hi > lo)) {
    // Only one end was fixed and the data lie beyond it.
    const widen = Math.abs(fixed.lo ?? fixed.hi ?? 0) * 0.1 || 1;
    if (fixed.lo !== undefined) hi = lo + widen;
    else lo = hi - widen;
  }
  let { step, decimals } = niceStep(hi - lo, extent.target);
  if (extent.integer && step < 1) [step, decimals] = [1, 0];
  const eps = 1e-9;
  if (fixed.lo === undefined) lo = Math.floor(lo / step + eps) * step;
  if (fixed.hi === undefined) hi = Math.ceil(hi / step - eps) * step;
  const ticks: Axis["ticks"] = [];
  const first = Math.ceil(lo / step - eps);
  const last = Math.floor(hi / step + eps);
  for (let i = first; i <= last; i++) {
    const value = i * step;
    const label = value.toFixed(decimals);
    ticks.push({ value, label: Number(label) === 0 ? (0).toFixed(decimals) : label });
  }
  return { lo, hi, ticks };
}

function checkSize(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`Cannot plot: ${name} must be a positive number, received "${value}"`);
  }
  return value;
}

function checkBound(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && !Number.isFinite(value)) {
    throw new RangeError(`Cannot plot: ${name} must be a finite number, received "${value}"`);
  }
  return value;
}

/**
 * Renders series as a line plot in a standalone SVG document (white
 * background, axes with 1-2-5 ticks and labels, a title, a polyline with
 * point markers per series in Okabe-Ito colours, translucent ±band areas and
 * a legend). Non-finite points are skipped; an empty series list, or one
 * without finite points, gives empty axes with a "No data" note.
 *
 * @throws {RangeError} If `width` or `height` is not positive, or `yMin` /
 * `yMax` is not finite or `yMin >= yMax`.
 *
 * @example
 * ```ts
 * import { linePlotSvg } from "./plot_svg.ts";
 * import assert from "node:assert/strict";
 * const svg = linePlotSvg(
 *   [{ name: "rdrop", points: [{ x: 1, y: 0.8, band: 0.02 }, { x: 2, y: 0.9, band: 0.01 }] }],
 *   { title: "Holdout accuracy", xLabel: "round", yLabel: "accuracy" },
 * );
 * assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
 * assert.equal(svg.match(/<polyline /g)?.length, 1);
 * ```
 */
export function linePlotSvg(series: PlotSeries[], options: LinePlotOptions = {}): string {
  const width = checkSize("width", options.width ?? 720);
  const height = checkSize("height", options.height ?? 420);
  const yMin = checkBound("yMin", options.yMin);
  const yMax = checkBound("yMax", options.yMax);
  if (yMin !== undefined && yMax !== undefined && !(yMin < yMax)) {
    throw new RangeError(
      `Cannot plot: yMin must be less than yMax, received "${yMin}" and "${yMax}"`,
    );
  }

  // Finite points per series, and the data's extent (bands included).
  const clean = series.map((s) =>
    s.points
      .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
      .map((p) => ({
        x: p.x,
        y: p.y,
        band: p.band !== undefined && Number.isFinite(p.band) ? Math.abs(p.band) : 0,
      }))
  );
  let xMinData = Infinity, xMaxData = -Infinity, yMinData = Infinity, yMaxData = -Infinity;
  for (const points of clean) {
    for (const p of points) {
      xMinData = Math.min(xMinData, p.x);
      xMaxData = Math.max(xMaxData, p.x);
      yMinData = Math.min(yMinData, p.y - p.band);
      yMaxData = Math.max(yMaxData, p.y + p.band);
    }
  }
  const hasData = xMinData <= xMaxData;
  const integerX = clean.every((points) => points.every((p) => Number.isInteger(p.x)));

  // Layout.
  const legendWidth = series.length === 0
    ? 0
    : Math.min(220, Math.max(90, 40 + 7 * Math.max(...series.map((s) => s.name.length))));
  const top = options.title !== undefined ? 40 : 20;
  const bottom = 36 + (options.xLabel !== undefined ? 20 : 0);
  const left = 56 + (options.yLabel !== undefined ? 20 : 0);
  const right = 16 + legendWidth;
  const plotWidth = Math.max(1, width - left - right);
  const plotHeight = Math.max(1, height - top - bottom);

  const xAxis = axis(
    {
      min: hasData ? xMinData : undefined,
      max: hasData ? xMaxData : undefined,
      pad: 0,
      target: 6,
      integer: hasData && integerX,
    },
  );
  const yAxis = axis(
    {
      min: hasData ? yMinData : undefined,
      max: hasData ? yMaxData : undefined,
      pad: 0.05,
      target: 5,
    },
    { lo: yMin, hi: yMax },
  );
  const sx = (x: number) => left + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotWidth;
  const sy = (y: number) =>
    top + plotHeight - ((y - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotHeight;
  const bottomY = top + plotHeight;
  const rightX = left + plotWidth;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 ${num(width)} ${
      num(height)
    }" width="${num(width)}" height="${
      num(height)
    }" font-family="sans-serif" font-size="${FONT_SIZE}">`,
  );
  if (options.title !== undefined) out.push(`<title>${escapeXml(options.title)}</title>`);
  out.push(
    `<defs><clipPath id="plot-area"><rect x="${num(left - 5)}" y="${num(top - 5)}" width="${
      num(plotWidth + 10)
    }" height="${num(plotHeight + 10)}"/></clipPath></defs>`,
    `<rect x="0" y="0" width="${num(width)}" height="${num(height)}" fill="#ffffff"/>`,
  );

  // Grid and ticks.
  out.push(`<g class="x-axis">`);
  for (const tick of xAxis.ticks) {
    const x = num(sx(tick.value));
    out.push(
      `<line x1="${x}" y1="${num(top)}" x2="${x}" y2="${num(bottomY)}" stroke="#e5e5e5"/>`,
      `<line x1="${x}" y1="${num(bottomY)}" x2="${x}" y2="${num(bottomY + 5)}" stroke="#333333"/>`,
      `<text class="tick-label" x="${x}" y="${
        num(bottomY + 18)
      }" text-anchor="middle">${tick.label}</text>`,
    );
  }
  out.push(`</g>`, `<g class="y-axis">`);
  for (const tick of yAxis.ticks) {
    const y = num(sy(tick.value));
    out.push(
      `<line x1="${num(left)}" y1="${y}" x2="${num(rightX)}" y2="${y}" stroke="#e5e5e5"/>`,
      `<line x1="${num(left - 5)}" y1="${y}" x2="${num(left)}" y2="${y}" stroke="#333333"/>`,
      `<text class="tick-label" x="${num(left - 8)}" y="${
        num(sy(tick.value) + 4)
      }" text-anchor="end">${tick.label}</text>`,
    );
  }
  out.push(`</g>`);
  out.push(
    `<path d="M${num(left)} ${num(top)}V${num(bottomY)}H${
      num(rightX)
    }" fill="none" stroke="#333333"/>`,
  );

  // Series: band, line, markers.
  out.push(`<g class="series-area" clip-path="url(#plot-area)">`);
  clean.forEach((points, i) => {
    const colour = PALETTE[i % PALETTE.length]!;
    const dash = DASHES[Math.floor(i / PALETTE.length) % DASHES.length]!;
    const xy = points
      .map((p) => ({ ...p, px: sx(p.x), py: sy(p.y) }))
      .filter((p) => Number.isFinite(p.px) && Number.isFinite(p.py));
    out.push(`<g class="series">`);
    if (xy.some((p) => p.band > 0)) {
      const upper = xy.map((p) => `${num(p.px)},${num(sy(p.y + p.band))}`);
      const lower = xy.map((p) => `${num(p.px)},${num(sy(p.y - p.band))}`).reverse();
      out.push(
        `<polygon class="band" points="${
          [...upper, ...lower].join(" ")
        }" fill="${colour}" fill-opacity="0.2" stroke="none"/>`,
      );
    }
    const dashAttr = dash ? ` stroke-dasharray="${dash}"` : "";
    out.push(
      `<polyline points="${
        xy.map((p) => `${num(p.px)},${num(p.py)}`).join(" ")
      }" fill="none" stroke="${colour}" stroke-width="2"${dashAttr}/>`,
    );
    for (const p of xy) {
      out.push(`<circle cx="${num(p.px)}" cy="${num(p.py)}" r="3" fill="${colour}"/>`);
    }
    out.push(`</g>`);
  });
  out.push(`</g>`);

  if (!hasData) {
    out.push(
      `<text class="note" x="${num(left + plotWidth / 2)}" y="${
        num(top + plotHeight / 2)
      }" text-anchor="middle" fill="#777777">No data</text>`,
    );
  }

  // Title and axis labels.
  if (options.title !== undefined) {
    out.push(
      `<text class="title" x="${
        num(left + plotWidth / 2)
      }" y="24" text-anchor="middle" font-size="16">${escapeXml(options.title)}</text>`,
    );
  }
  if (options.xLabel !== undefined) {
    out.push(
      `<text class="axis-label" x="${num(left + plotWidth / 2)}" y="${
        num(bottomY + 40)
      }" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    );
  }
  if (options.yLabel !== undefined) {
    const cx = num(18);
    const cy = num(top + plotHeight / 2);
    out.push(
      `<text class="axis-label" x="${cx}" y="${cy}" text-anchor="middle" transform="rotate(-90 ${cx} ${cy})">${
        escapeXml(options.yLabel)
      }</text>`,
    );
  }

  // Legend.
  if (series.length > 0) {
    out.push(`<g class="legend">`);
    const lx = rightX + 16;
    series.forEach((s, i) => {
      const colour = PALETTE[i % PALETTE.length]!;
      const dash = DASHES[Math.floor(i / PALETTE.length) % DASHES.length]!;
      const dashAttr = dash ? ` stroke-dasharray="${dash}"` : "";
      const y = top + 8 + i * LEGEND_ROW;
      out.push(
        `<line x1="${num(lx)}" y1="${num(y)}" x2="${num(lx + 22)}" y2="${
          num(y)
        }" stroke="${colour}" stroke-width="2"${dashAttr}/>`,
        `<circle cx="${num(lx + 11)}" cy="${num(y)}" r="3" fill="${colour}"/>`,
        `<text x="${num(lx + 28)}" y="${num(y + 4)}">${escapeXml(s.name)}</text>`,
      );
    });
    out.push(`</g>`);
  }

  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

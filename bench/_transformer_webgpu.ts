/**
 * The transformer's WebGPU rows of `deno task bench`: the benchmark's model
 * trained by the project's LocalTrainer on tfjs's webgpu backend in headless
 * Chromium (Debian's, driven by playwright-core with the browser tests'
 * flags), whose WebGPU adapter here is its software one.
 * bench/_webgpu_page.ts is bundled (`deno bundle`, as `deno task build-web`
 * does) into a temporary folder and served with a
 * one-line HTML page on 127.0.0.1 (a secure context, so WebGPU is exposed);
 * the page reports its figures through a promise the bench awaits. Without
 * Chromium or an adapter, the rows say why instead of failing.
 * @module
 */
import type { Browser } from "playwright-core";
import { join } from "node:path";
import type { Row } from "./_row.ts";
import type { WebGpuBench } from "./_webgpu_page.ts";

/** Options of {@linkcode webGpuRows}. */
export interface WebGpuBenchOptions {
  /** Steps a timed run (after one warm-up step per objective). @default 1 */
  steps?: number;
  /** Timed runs per objective, plain and R-Drop alternating; the median counts. @default 1 */
  runs?: number;
  /** The most the browser part may take before the rows give up. @default 300000 */
  timeoutMs?: number;
}

const HTML = `<!doctype html><meta charset="utf-8"><title>WebGPU bench</title>
<script type="module" src="/page.js"></script>`;

/** Bundles the page, serves it on loopback, and returns what it measured, or why it could not. */
async function measureInChromium(
  steps: number,
  runs: number,
  timeoutMs: number,
): Promise<{ result: WebGpuBench; chromium: string }> {
  const dir = await Deno.makeTempDir({ prefix: "bench-webgpu-" });
  let browser: Browser | null = null;
  let server: Deno.HttpServer<Deno.NetAddr> | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const errors: string[] = [];
  const because = () => errors.length > 0 ? ` (${errors.join("; ")})` : "";
  try {
    const script = join(dir, "page.js");
    const entry = new URL("./_webgpu_page.ts", import.meta.url).pathname;
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--minify", "-o", script, entry],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!built.success) {
      throw new Error(`cannot bundle the page: ${new TextDecoder().decode(built.stderr)}`);
    }
    const code = await Deno.readFile(script);
    server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/") {
        return new Response(HTML, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
      if (pathname === "/page.js") {
        return new Response(code, { headers: { "content-type": "text/javascript" } });
      }
      return new Response("not found", { status: 404 });
    });
    // Imported here: playwright-core reads /proc as it loads, which needs
    // --allow-all; without it, only these rows fail, and say why.
    const { launchChromium } = await import("../tools/chromium.ts");
    browser = await launchChromium({ webgpu: true });
    const chromium = `Chromium ${browser.version()}`;
    const page = await browser.newPage();
    const progress: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("crash", () => errors.push("the page crashed"));
    page.on("console", (message) => {
      if (!message.text().startsWith("bench: ")) return;
      progress.push(message.text().slice(7));
      // The steps are slow on a software adapter: show that they advance.
      console.error(`webgpu: ${progress.at(-1)}`);
    });
    const { port } = server.addr;
    await page.goto(`http://127.0.0.1:${port}/?steps=${steps}&runs=${runs}`);
    const timeout = new Promise<WebGpuBench>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            error: `no result after ${timeoutMs / 1000} s (last: ${progress.at(-1) ?? "none"})`,
          }),
        timeoutMs,
      );
    });
    const measured = page.evaluate(() =>
      (globalThis as { webgpuBench?: Promise<WebGpuBench> }).webgpuBench ??
        { error: "the page did not start" }
    );
    const result = await Promise.race([measured, timeout]);
    if ("error" in result) result.error += because();
    return { result, chromium };
  } catch (error) {
    return {
      result: { error: (error instanceof Error ? error.message : String(error)) + because() },
      chromium: "",
    };
  } finally {
    clearTimeout(timer);
    await browser?.close().catch(() => {});
    await server?.shutdown().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** `vendor "google", architecture "swiftshader"`: the adapter's info as the browser gives it. */
function adapterName(info: Record<string, string>, fallback: boolean | null): string {
  const fields = Object.entries(info).map(([key, value]) => `${key} "${value}"`);
  if (fallback) fields.push("fallback adapter");
  return fields.join(", ") || "no adapter info";
}

/** The note of a WebGPU / wasm row, with digits the table's two decimals would round away. */
function ratioNote(ratio: number): string {
  const faster = ratio < 1 ? `wasm ${(1 / ratio).toFixed(0)} times faster` : "";
  return `tokens a second, the same run: ${ratio.toPrecision(2)}x${faster ? `, ${faster}` : ""}`;
}

/**
 * The WebGPU rows: tokens a second of a plain step (2,048 tokens) and of an
 * R-Drop step ([x; x] of 1,024 tokens), and each over wasm's, given wasm's
 * seconds a step measured in the same run.
 */
export async function webGpuRows(
  wasm: { plain: number; rdrop: number },
  options: WebGpuBenchOptions = {},
): Promise<Row[]> {
  const { steps = 1, runs = 1, timeoutMs = 300_000 } = options;
  const { result, chromium } = await measureInChromium(steps, runs, timeoutMs);
  if ("error" in result) {
    const note = `not measured: ${result.error.split("\n")[0]}`;
    return [
      { name: "transformer plain step, WebGPU", value: NaN, unit: "tok/s", note },
      { name: "transformer R-Drop step, WebGPU", value: NaN, unit: "tok/s", note },
      { name: "transformer plain step, WebGPU / wasm", value: NaN, unit: "x", note },
      { name: "transformer R-Drop step, WebGPU / wasm", value: NaN, unit: "x", note },
    ];
  }
  const software = /\(software\)$/.test(result.adapter)
    ? " (software: a CPU-emulated GPU, so this measures the code path, not GPU speed)"
    : "";
  const timed = runs === 1
    ? `${steps} timed step${steps === 1 ? "" : "s"}`
    : `median of ${runs} runs of ${steps}`;
  const seconds = (values: number[]) => values.map((v) => v.toFixed(1)).join(", ");
  return [
    {
      name: "transformer plain step, WebGPU",
      value: 2048 / result.plainSeconds,
      unit: "tok/s",
      note: `2,048 tokens, dropout on; adapter ${
        adapterName(result.adapterInfo, result.fallback)
      }${software}; ${chromium} headless, tfjs ${result.backend}, LocalTrainer`,
    },
    {
      name: "transformer R-Drop step, WebGPU",
      value: 2048 / result.rdropSeconds,
      unit: "tok/s",
      note: `[x; x] of 1,024 tokens (2,048 a pass); ${timed} of each after a warm-up step of ` +
        `each (s a step: warm-up ${seconds(result.warmUp)}, plain ${
          seconds(result.plainRuns)
        }, R-Drop ${seconds(result.rdropRuns)})`,
    },
    {
      name: "transformer plain step, WebGPU / wasm",
      value: wasm.plain / result.plainSeconds,
      unit: "x",
      note: ratioNote(wasm.plain / result.plainSeconds),
    },
    {
      name: "transformer R-Drop step, WebGPU / wasm",
      value: wasm.rdrop / result.rdropSeconds,
      unit: "x",
      note: ratioNote(wasm.rdrop / result.rdropSeconds),
    },
  ];
}

/**
 * For tests: Debian's headless Chromium driven by playwright-core, and the
 * client page's progress read off the page.
 * @module
 */
import { type Browser, chromium, type Page } from "playwright-core";

/** Where Chromium is: `$CHROMIUM_PATH`, else Debian's `/usr/bin/chromium`. */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** Folder the tests' screenshots go to. */
export const ARTIFACTS = new URL("../artifacts/", import.meta.url);

/**
 * Starts headless Chromium; `webgpu` turns on WebGPU (Chromium's software
 * SwiftShader adapter where there is no GPU); `args` are more flags.
 */
export async function launchChromium(
  options: { webgpu: boolean; args?: string[] },
): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `The browser tests need Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`,
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      ...(options.webgpu ? ["--enable-unsafe-webgpu"] : ["--disable-features=WebGPU"]),
      ...(options.args ?? []),
    ],
  });
}

/** The progress view's fields by element id. */
export async function progress(page: Page): Promise<Record<string, string>> {
  return await page.evaluate(() => {
    // Runs in the page.
    type Element = { id: string; textContent: string | null };
    const { document } = globalThis as unknown as {
      document: { querySelectorAll(selector: string): Iterable<Element> };
    };
    return Object.fromEntries(
      [...document.querySelectorAll("[id]")].map((e) => [e.id, e.textContent?.trim() ?? ""]),
    );
  });
}

/** Waits until `check` returns a value (not undefined), polling every 200 ms, or fails after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 90_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${ms / 1000} s waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Saves a full-page screenshot as `artifacts/NAME` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const path = new URL(name, ARTIFACTS).pathname;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * For tests: Debian's headless Chromium driven by playwright-core, and the
 * client page's progress read off the page.
 * @module
 */
import type { Page } from "playwright-core";

export { CHROMIUM, launchChromium } from "../tools/chromium.ts";

/** Folder the tests' screenshots go to. */
export const ARTIFACTS = new URL("../artifacts/", import.meta.url);

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

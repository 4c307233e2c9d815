/**
 * Debian's headless Chromium driven by playwright-core, as the browser tests
 * and the WebGPU benchmark start it.
 * @module
 */
import { type Browser, chromium } from "playwright-core";

/** Where Chromium is: `$CHROMIUM_PATH`, else Debian's `/usr/bin/chromium`. */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/**
 * Starts headless Chromium; `webgpu` turns on WebGPU (Chromium's software
 * SwiftShader adapter where there is no GPU); `args` are more flags. Throws
 * an Error that says how to install Chromium when it is missing.
 *
 * @example
 * ```ts ignore
 * import { launchChromium } from "./chromium.ts";
 * const browser = await launchChromium({ webgpu: true });
 * await browser.close();
 * ```
 */
export async function launchChromium(
  options: { webgpu: boolean; args?: string[] },
): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Chromium is needed at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`,
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

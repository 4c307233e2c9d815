/**
 * Join links for browser clients, the dashboard's link, and QR codes (drawn by the `qrcode`
 * package) for a terminal and for the dashboard, so a phone can join by
 * scanning.
 * @module
 */
// @ts-types="npm:@types/qrcode@1.5.6"
import QRCode from "qrcode";

/**
 * The client page's address at `publicUrl`, with the enrolment token when
 * there is one (tokens off: none).
 *
 * @example
 * ```ts
 * import { joinLink } from "./join_link.ts";
 * import assert from "node:assert/strict";
 * assert.equal(joinLink("https://fl.test:8787", "a b"), "https://fl.test:8787/client/?enrol=a%20b");
 * ```
 */
export function joinLink(publicUrl: string, enrolmentToken?: string): string {
  const base = `${publicUrl.replace(/\/+$/, "")}/client/`;
  return enrolmentToken ? `${base}?enrol=${encodeURIComponent(enrolmentToken)}` : base;
}

/**
 * The dashboard's address at `site`, with the admin token in the fragment
 * (which a browser never sends), so opening it signs in; without a token the
 * page asks for one.
 *
 * @example
 * ```ts
 * import { dashboardLink } from "./join_link.ts";
 * import assert from "node:assert/strict";
 * assert.equal(dashboardLink("http://127.0.0.1:8787/", "adm_x"), "http://127.0.0.1:8787/#token=adm_x");
 * ```
 */
export function dashboardLink(site: string, adminToken?: string | null): string {
  const base = `${site.replace(/\/+$/, "")}/`;
  return adminToken ? `${base}#token=${encodeURIComponent(adminToken)}` : base;
}

/**
 * `text` as a QR code drawn with Unicode half blocks for a terminal (two rows
 * of modules a line).
 *
 * @example
 * ```ts
 * import { qrTerminal } from "./join_link.ts";
 * import assert from "node:assert/strict";
 * assert.ok((await qrTerminal("https://fl.test/")).includes("\n"));
 * ```
 */
export async function qrTerminal(text: string): Promise<string> {
  return await QRCode.toString(text, { type: "utf8", errorCorrectionLevel: "L", margin: 2 });
}

/**
 * `text` as a QR code, an SVG image (black on white, scalable).
 *
 * @example
 * ```ts
 * import { qrSvg } from "./join_link.ts";
 * import assert from "node:assert/strict";
 * assert.ok((await qrSvg("https://fl.test/")).startsWith("<svg"));
 * ```
 */
export async function qrSvg(text: string): Promise<string> {
  return await QRCode.toString(text, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
}

/**
 * Every error answer, and zod errors in one line.
 * @module
 */
import { z } from "zod";

/** Every error answer. */
export const ErrorResponseSchema = z.strictObject({
  error: z.strictObject({ code: z.string(), message: z.string() }),
});

/**
 * Formats a zod error as one line naming each field and its reason.
 *
 * @example
 * ```ts
 * import { formatZodError, TrainingConfigSchema } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const result = TrainingConfigSchema.safeParse({ alpha: -1 });
 * assert.ok(!result.success && formatZodError(result.error).startsWith("alpha:"));
 * ```
 */
export function formatZodError(error: z.ZodError): string {
  return error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join(".") : "(root)";
    return `${path}: ${issue.message}`;
  }).join("; ");
}

/** @see {@linkcode ErrorResponseSchema} */
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;

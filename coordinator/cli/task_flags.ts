/**
 * The coordinator CLI's `--secure-aggregation [K=V,...]` and `--privacy K=V,...`
 * over a task's own settings: parsed, validated, or the CLI stops naming the
 * flag and the field.
 * @module
 */
import { fail, keyValueFlag } from "../../shared/cli.ts";
import {
  formatZodError,
  type PrivacyConfig,
  PrivacySchema,
  type SecureAggregationConfig,
  SecureAggregationSchema,
} from "../../shared/schemas/mod.ts";

/** `--privacy` over `base` (a task's own settings), or `base` without the flag. */
export function privacySettingsFlag(
  taskId: string,
  base: PrivacyConfig | undefined,
  flag: string | undefined,
): PrivacyConfig | undefined {
  if (flag === undefined) return base;
  const { adaptive, targetQuantile, learningRate, countStd, ...rest } = keyValueFlag(
    "privacy",
    flag,
  );
  const adaptiveSettings = Object.fromEntries(
    Object.entries({ targetQuantile, learningRate, countStd }).filter(([, v]) => v !== undefined),
  );
  const parsed = PrivacySchema.safeParse({
    ...base,
    ...rest,
    ...(adaptive === true || Object.keys(adaptiveSettings).length
      ? { adaptive: { ...base?.adaptive, ...adaptiveSettings } }
      : adaptive === false
      ? { adaptive: undefined }
      : {}),
  });
  if (!parsed.success) fail(`task "${taskId}": --privacy: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

/** `--secure-aggregation` over `base` (a task's own settings), or `base` without the flag. */
export function secureAggregationFlag(
  taskId: string,
  base: SecureAggregationConfig | undefined,
  flag: string | undefined,
): SecureAggregationConfig | undefined {
  if (flag === undefined) return base;
  const parsed = SecureAggregationSchema.safeParse({
    ...base,
    ...keyValueFlag("secure-aggregation", flag),
  });
  if (!parsed.success) {
    fail(`task "${taskId}": --secure-aggregation: ${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}

// The task config of a built-in task: its model and input, the defaults the
// built-in tasks share, and the caller's overrides on top.
import type { InputSpec, TaskConfig, TaskConfigInput } from "../schemas/mod.ts";
import { TaskConfigSchema } from "../schemas/mod.ts";

/** What a caller may override in a built-in task. */
export interface TaskOverrides {
  training?: TaskConfigInput["training"];
  rounds?: TaskConfigInput["rounds"];
  aggregation?: TaskConfigInput["aggregation"];
}

/** Builds a built-in task's config with the shared defaults and the overrides. */
export function builtinTaskConfig(
  base: {
    id: string;
    topology: Record<string, unknown>;
    input: InputSpec;
    learningRate: number;
  },
  overrides: TaskOverrides,
): TaskConfig {
  return TaskConfigSchema.parse({
    id: base.id,
    model: { topology: base.topology, seed: 0 },
    input: base.input,
    training: {
      alpha: 1,
      labeledBatchSize: 32,
      unlabeledBatchSize: 64,
      localSteps: 40,
      learningRate: base.learningRate,
      ...overrides.training,
    },
    rounds: {
      total: 10,
      targetClients: 8,
      minClients: 1,
      timeoutSeconds: 120,
      ...overrides.rounds,
    },
    aggregation: { unlabeledWeight: 0.5, ...overrides.aggregation },
  });
}

/**
 * For tests that run client CLIs: an in-process coordinator of a one-round
 * mnist-mlp task with tokens, torn down after the callback.
 * @module
 */
import { type Coordinator, startCoordinator } from "../coordinator/serve.ts";
import { loadMnistSplit } from "../shared/data/mnist.ts";
import { SecureAggregationSchema } from "../shared/schemas/mod.ts";
import { mnistMlpTask } from "../shared/tasks/mnist_mlp.ts";

/** Options of {@linkcode withMnistCoordinator}. */
export interface MnistCoordinatorOptions {
  /** The enrolment token clients enrol with. */
  enrolmentToken: string;
  /** The admin token. */
  adminToken: string;
  /** Clients the round waits for. @default 1 */
  clients?: number;
  /** Local steps a client trains. @default 5 */
  localSteps?: number;
  /** Secure aggregation on. @default false */
  secure?: boolean;
}

/**
 * Runs `fn` against a fresh coordinator of one round of mnist-mlp, evaluated
 * on the built-in holdout split.
 *
 * @example
 * ```ts ignore
 * import { withMnistCoordinator } from "./_mnist_coordinator.ts";
 * await withMnistCoordinator({ enrolmentToken: "enr_x", adminToken: "adm_x" }, async (c) => {
 *   console.log(c.url);
 * });
 * ```
 */
export async function withMnistCoordinator(
  options: MnistCoordinatorOptions,
  fn: (coordinator: Coordinator) => Promise<void>,
): Promise<void> {
  const { clients = 1, localSteps = 5 } = options;
  const { holdout } = await loadMnistSplit({ seed: 1 });
  const task = {
    ...mnistMlpTask({
      rounds: { total: 1, targetClients: clients, minClients: clients, timeoutSeconds: 600 },
      training: { localSteps },
    }),
    ...(options.secure ? { secureAggregation: SecureAggregationSchema.parse({}) } : {}),
  };
  const coordinator = await startCoordinator({
    tasks: [{ config: task, holdout }],
    auth: { enrolmentToken: options.enrolmentToken, adminToken: options.adminToken },
  });
  try {
    await fn(coordinator);
  } finally {
    await coordinator.shutdown();
  }
}

// The adaptive server optimizers of Reddi et al. 2021 ("Adaptive Federated
// Optimization", Algorithm 2), shared by FedAdagrad, FedAdam and FedYogi.

/** Hyperparameters of the adaptive server optimizers. */
export interface FedOptOptions {
  /** Server learning rate (eta). */
  eta: number;
  /** First-moment decay (beta_1), in [0, 1). */
  beta1: number;
  /** Second-moment decay (beta_2), in [0, 1); unused by FedAdagrad. */
  beta2: number;
  /** Adaptivity (tau): added to sqrt(v); v starts at tau^2. */
  tau: number;
}

/** The optimizer's state: first and second moments per tensor. */
export interface FedOptState {
  m: Float32Array[];
  v: Float32Array[];
}

/** How the second moment is updated from v and the squared delta. */
export type SecondMoment = (v: number, d2: number, beta2: number) => number;

/**
 * One step: `m = beta1 m + (1 - beta1) delta`, `v = update(v, delta^2)`,
 * `step = eta m / (sqrt(v) + tau)`, with `m_0 = 0` and `v_0 = tau^2`.
 */
export function fedOptStep(
  state: FedOptState | null,
  delta: readonly Float32Array[],
  options: FedOptOptions,
  secondMoment: SecondMoment,
): { step: Float32Array[]; state: FedOptState } {
  const { eta, beta1, beta2, tau } = options;
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  const step = delta.map((d, t) => {
    const mt = new Float32Array(d.length);
    const vt = new Float32Array(d.length);
    const out = new Float32Array(d.length);
    const m0 = state?.m[t];
    const v0 = state?.v[t];
    for (let i = 0; i < d.length; i++) {
      const g = d[i]!;
      mt[i] = beta1 * (m0 ? m0[i]! : 0) + (1 - beta1) * g;
      vt[i] = secondMoment(v0 ? v0[i]! : tau * tau, g * g, beta2);
      out[i] = (eta * mt[i]!) / (Math.sqrt(vt[i]!) + tau);
    }
    m.push(mt);
    v.push(vt);
    return out;
  });
  return { step, state: { m, v } };
}

/** Checks the hyperparameters; throws a RangeError naming the bad one. */
export function checkFedOptOptions(name: string, options: FedOptOptions): void {
  const { eta, beta1, beta2, tau } = options;
  if (!(eta > 0)) throw new RangeError(`${name}: eta "${eta}" must be positive`);
  if (!(beta1 >= 0 && beta1 < 1)) {
    throw new RangeError(`${name}: beta1 "${beta1}" must be in [0, 1)`);
  }
  if (!(beta2 >= 0 && beta2 < 1)) {
    throw new RangeError(`${name}: beta2 "${beta2}" must be in [0, 1)`);
  }
  if (!(tau > 0)) throw new RangeError(`${name}: tau "${tau}" must be positive`);
}

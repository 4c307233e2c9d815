/**
 * Starting the coordinator CLI as its own process (for tests and benchmarks).
 * @module
 */

/** A free TCP port on loopback (free when asked; tests then bind it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Options of {@linkcode spawnCoordinator}. */
export interface SpawnCoordinatorOptions {
  /** A task file or built-in name; none for an edge (`--upstream` in `args`). */
  taskFile?: string;
  runDir: string;
  port: number;
  adminToken: string;
  enrolmentToken: string;
  /** Seconds to keep serving after the last round. */
  linger: number;
  /** More flags. @default none */
  args?: string[];
  /** Environment variables (e.g. fault injection). @default none */
  env?: Record<string, string>;
  /** What happens to stdout. @default "null" */
  stdout?: "piped" | "null";
}

/** Starts `coordinator/main.ts` with authentication on; stderr is piped. */
export function spawnCoordinator(options: SpawnCoordinatorOptions): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "coordinator/main.ts",
      ...(options.taskFile ? ["--task", options.taskFile] : []),
      "--run-dir",
      options.runDir,
      "--port",
      String(options.port),
      "--admin-token",
      options.adminToken,
      "--enrolment-token",
      options.enrolmentToken,
      "--linger",
      String(options.linger),
      ...(options.args ?? []),
    ],
    env: options.env ?? {},
    stdout: options.stdout ?? "null",
    stderr: "piped",
  }).spawn();
}

/**
 * Waits until `url` answers /v1/health: true once up, false if `child` exits
 * first; throws after 20 s.
 */
export async function waitUntilUp(url: string, child: Deno.ChildProcess): Promise<boolean> {
  let exited = false;
  child.status.then(() => (exited = true));
  for (let i = 0; i < 400; i++) {
    if (await fetch(`${url}/v1/health`).then((r) => r.ok, () => false)) return true;
    if (exited) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the coordinator at ${url} did not start in 20 s`);
}

/**
 * Current and peak resident memory of process `pid` in MiB (Linux: VmRSS and
 * VmHWM of /proc/PID/status, read with `cat`, which needs only --allow-run),
 * or null where that is not available.
 */
export async function processMemory(
  pid: number,
): Promise<{ rssMiB: number; peakMiB: number } | null> {
  try {
    const { stdout, success } = await new Deno.Command("cat", {
      args: [`/proc/${pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!success) return null;
    const status = new TextDecoder().decode(stdout);
    const mib = (key: string) =>
      Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
    const memory = { rssMiB: mib("VmRSS"), peakMiB: mib("VmHWM") };
    return Number.isFinite(memory.rssMiB) && Number.isFinite(memory.peakMiB) ? memory : null;
  } catch {
    return null;
  }
}

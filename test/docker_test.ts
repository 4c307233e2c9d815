// docker/ without a Docker engine: the compose file parses, has one cloud,
// two edges and four clients wired to each other, and every command it runs
// is a deno task whose CLI knows each flag given; the Dockerfiles use an
// official Deno image, run as a non-root user and have a health check.
import assert from "node:assert/strict";
import { parse } from "yaml";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));

interface Service {
  build: { context: string; dockerfile: string };
  command: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(await read("docker/compose.yaml"), { merge: true }) as {
  services: Record<string, Service>;
};
const tasks = (JSON.parse(await read("deno.json")) as { tasks: Record<string, unknown> }).tasks;

/** The `--help` text of a task's CLI (the script its command runs). */
async function help(task: string): Promise<string> {
  const entry = JSON.stringify(tasks[task]).match(/(\w+\/main\.ts)/)?.[1];
  assert.ok(entry, `task "${task}" runs a main.ts`);
  const { stdout, code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", entry, "--help"],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  return new TextDecoder().decode(stdout);
}

Deno.test("the compose file: one cloud, two edges, four clients, wired by service name", () => {
  const names = Object.keys(compose.services).sort();
  assert.deepEqual(names, [
    "client-1",
    "client-2",
    "client-3",
    "client-4",
    "cloud",
    "edge-1",
    "edge-2",
  ]);
  const flag = (s: Service, name: string) => s.command[s.command.indexOf(name) + 1];
  for (const edge of ["edge-1", "edge-2"]) {
    const s = compose.services[edge]!;
    assert.equal(flag(s, "--upstream"), "http://cloud:8787");
    assert.equal(flag(s, "--edge-id"), edge);
    assert.equal(s.depends_on?.cloud?.condition, "service_healthy");
  }
  const behind = new Map<string, number>();
  for (let i = 1; i <= 4; i++) {
    const s = compose.services[`client-${i}`]!;
    const target = new URL(flag(s, "--coordinator")!).hostname;
    assert.ok(target === "edge-1" || target === "edge-2", target);
    assert.equal(s.environment?.FL_COORDINATOR, `http://${target}:8787`);
    assert.equal(s.depends_on?.[target]?.condition, "service_healthy");
    assert.equal(flag(s, "--mnist-shard"), `${i}/4`);
    behind.set(target, (behind.get(target) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(behind), { "edge-1": 2, "edge-2": 2 });
});

Deno.test("every command in the compose file is a deno task, with flags its CLI knows", async () => {
  const helps = new Map<string, string>();
  for (const [name, service] of Object.entries(compose.services)) {
    const [task, ...args] = service.command;
    assert.ok(task && task in tasks, `${name}: "${task}" is not a deno task`);
    if (!helps.has(task)) helps.set(task, await help(task));
    for (const arg of args.filter((a) => a.startsWith("--"))) {
      assert.match(helps.get(task)!, new RegExp(`\\s${arg}\\s`), `${name}: ${task} ${arg}`);
    }
  }
});

Deno.test("the Dockerfiles: an official Deno image, a non-root user, a health check", async () => {
  const dockerfiles = new Set(Object.values(compose.services).map((s) => s.build.dockerfile));
  assert.deepEqual([...dockerfiles].sort(), [
    "docker/client.Dockerfile",
    "docker/coordinator.Dockerfile",
  ]);
  for (const path of dockerfiles) {
    const text = await read(path);
    assert.match(text, /^FROM denoland\/deno:\d+\.\d+\.\d+$/m, path);
    assert.match(text, /^USER deno$/m, path);
    assert.match(text, /^HEALTHCHECK .*\n\s+CMD \[/m, path);
    assert.match(text, /^ENTRYPOINT \["deno", "task"\]$/m, path);
    const cmd = JSON.parse(text.match(/^CMD (\[.*\])$/m)![1]!) as string[];
    assert.ok(cmd[0]! in tasks, `${path}: CMD runs task "${cmd[0]}"`);
    for (const copied of text.matchAll(/^COPY (\S+)/gm)) {
      await Deno.stat(new URL(copied[1]!, root));
    }
  }
});

Deno.test("the TLS override: certificates from a mounted folder for the cloud and edges; edges and clients trust its CA over https", async () => {
  const tls = parse(await read("docker/compose.tls.yaml"), { merge: true }) as {
    services: Record<
      string,
      Partial<Service> & { volumes?: string[]; healthcheck?: { test: string[] } }
    >;
  };
  assert.deepEqual(Object.keys(tls.services).sort(), Object.keys(compose.services).sort());
  for (const [name, service] of Object.entries(tls.services)) {
    assert.ok(service.volumes?.includes("./certs:/certs:ro"), `${name} mounts the certificates`);
    assert.equal(service.environment?.FL_CA_CERT, "/certs/ca.pem", name);
    assert.match(service.healthcheck!.test.join(" "), /caCerts.*\/certs\/ca\.pem.*v1\/health/);
    const command = service.command ?? compose.services[name]!.command;
    assert.ok(!command.some((arg) => arg.startsWith("http://")), `${name}: ${command.join(" ")}`);
  }
  for (const name of ["cloud", "edge-1", "edge-2"]) {
    assert.equal(tls.services[name]!.environment?.FL_TLS_CERT, "/certs/server.pem");
    assert.equal(tls.services[name]!.environment?.FL_TLS_KEY, "/certs/server-key.pem");
  }
  for (const name of ["edge-1", "edge-2"]) {
    const command = tls.services[name]!.command!;
    assert.equal(command[command.indexOf("--upstream") + 1], "https://cloud:8787");
  }
  for (const i of [1, 2, 3, 4]) {
    const s = tls.services[`client-${i}`]!;
    const target = i <= 2 ? "edge-1" : "edge-2";
    assert.equal(s.environment?.FL_COORDINATOR, `https://${target}:8787`);
    assert.equal(s.command![s.command!.indexOf("--coordinator") + 1], `https://${target}:8787`);
  }
  // The variables the override sets are read by the CLIs.
  const coordinatorHelp = await help("coordinator");
  for (const variable of ["FL_TLS_CERT", "FL_TLS_KEY", "FL_CA_CERT"]) {
    assert.match(coordinatorHelp, new RegExp(`\\$${variable}`));
  }
  assert.match(await help("client"), /\$FL_CA_CERT/);
});

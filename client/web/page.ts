/**
 * The client page: enrols with the coordinator, lets the person choose data
 * that stays in the browser, and shows the progress of the training worker.
 * @module
 */
/// <reference lib="dom" />
import {
  CoordinatorClient,
  CoordinatorError,
  UnreachableError,
} from "../link/coordinator_client.ts";
import { unmetNeeds } from "./secure_context.ts";
import {
  type DataSource,
  type TrainMessage,
  type TrainStart,
  WEB_BACKENDS,
  type WebBackendName,
} from "./messages.ts";

/** Shards the demo data is cut into; a page picks one at random and keeps it. */
const DEMO_SHARDS = 20;

const params = new URLSearchParams(location.search);
const taskId = params.get("task") ?? undefined;
const storageKey = `fl-client:${taskId ?? "default"}`;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const text = (id: string, value: string) => ($(id).textContent = value);

interface Identity {
  clientId: string;
  token: string;
}

/** The identities this browser has enrolled for the task (one per tab at a time). */
function savedIdentities(): Identity[] {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey) ?? "[]");
    return Array.isArray(saved)
      ? saved.filter((s) => typeof s?.clientId === "string" && typeof s?.token === "string")
      : [];
  } catch {
    return [];
  }
}

function saveIdentities(identities: Identity[]): void {
  localStorage.setItem(storageKey, JSON.stringify(identities));
}

/**
 * Holds the Web Lock `name` until the tab closes or reloads; false when
 * another tab holds it.
 */
function holdLock(name: string): Promise<boolean> {
  return new Promise((resolve) => {
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      resolve(lock !== null);
      return lock ? new Promise<void>(() => {}) : undefined;
    }).catch(() => resolve(false));
  });
}

const lockName = (id: Identity) => `${storageKey}:${id.clientId}`;

/**
 * The identity this tab trains as: a saved one no other tab holds (so a
 * reload rejoins as the same client, and two tabs are two clients), or null.
 */
async function claimIdentity(): Promise<Identity | null> {
  for (let attempt = 0; attempt < 2; attempt++) {
    for (const id of savedIdentities()) {
      if (await holdLock(lockName(id))) return id;
    }
    // A reloaded tab's old page may not have let go yet.
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return null;
}

let identity: Identity | null = null;
let data: DataSource | null = null;
let worker: Worker | null = null;
let accepted = 0;
let totalRounds = 0;

function showIdentity(): void {
  text(
    "identity",
    identity
      ? `Enrolled as ${identity.clientId}. This browser keeps the client's token, so a reload rejoins as the same client.`
      : "Not enrolled yet: paste an enrolment token, or open the join link the coordinator printed. Each tab is a client of its own.",
  );
  $("forget").hidden = !identity;
}

function setConnection(state: string, label = state): void {
  const el = $("connection");
  el.dataset.state = state;
  el.textContent = label;
}

function showError(message: string | null): void {
  const el = $("error");
  el.hidden = message === null;
  el.textContent = message ?? "";
}

function log(line: string): void {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${line}`;
  $("log").prepend(item);
  while ($("log").childElementCount > 50) $("log").lastElementChild?.remove();
}

const fmt = (value: number) => value.toFixed(4);

/** The last round's fused SIMD kernel calls, e.g. "40 Adam updates, 10 dropout masks". */
function fusedKernelsText({ adam, dropout }: { adam: number; dropout: number }): string {
  return adam + dropout === 0
    ? "none (tfjs's own ops)"
    : `${adam} Adam updates, ${dropout} dropout masks in the last round`;
}

function onMessage(message: TrainMessage): void {
  switch (message.kind) {
    case "backend":
      text("backend-name", message.name);
      text("device", message.device ?? "–");
      for (const s of message.skipped) log(`backend ${s.name} not used: ${s.reason}`);
      setConnection("connecting", "connecting");
      break;
    case "data":
      text(
        "examples",
        `${
          message.numLabeled + message.numUnlabeled
        } rows: ${message.numLabeled} labeled, ${message.numUnlabeled} unlabeled`,
      );
      break;
    case "joined":
      totalRounds = message.totalRounds;
      setConnection("connected", `connected to task ${message.taskId}`);
      log(`joined task ${message.taskId} (${message.localSteps} local steps per round)`);
      break;
    case "step": {
      setConnection("training", "training");
      showError(null);
      text("round", `${message.round} of ${totalRounds}`);
      const bar = $<HTMLProgressElement>("step-bar");
      bar.max = message.totalSteps;
      bar.value = message.step;
      text("step", `${message.step} / ${message.totalSteps}`);
      text("loss", `${fmt(message.loss)} (ce ${fmt(message.ce)}, kl ${fmt(message.kl)})`);
      if (message.msPerStep > 0) text("step-time", `${message.msPerStep.toFixed(0)} ms`);
      break;
    }
    case "sent":
      accepted++;
      text("accepted", String(accepted));
      text(
        "last-update",
        message.secure
          ? `round ${message.round}: accepted, masked (secure aggregation: the coordinator saw only the sum)`
          : `round ${message.round}: accepted (${message.received} of ${message.targetClients} updates in)`,
      );
      text("fused-kernels", fusedKernelsText(message.fusedKernels));
      setConnection("connected", "update accepted; waiting for the next round");
      log(
        `round ${message.round}: update accepted, loss ${fmt(message.loss)}, ${
          message.seconds.toFixed(1)
        } s of training`,
      );
      break;
    case "rejected":
      text("last-update", `round ${message.round}: not used (${message.message})`);
      log(
        message.status === 409
          ? `round ${message.round} closed or passed this client by: ${message.message}; joining the next round`
          : `round ${message.round}: ${message.message}`,
      );
      break;
    case "retry":
      setConnection(
        "retrying",
        /unreachable/.test(message.message)
          ? "coordinator unreachable, retrying"
          : "coordinator busy, retrying",
      );
      log(`${message.message}; retrying in ${(message.delayMs / 1000).toFixed(1)} s`);
      break;
    case "finished":
      setConnection("finished", "the run has finished");
      log("the coordinator's run has finished");
      stop(false);
      break;
    case "error":
      setConnection("failed", "stopped by an error");
      if (message.unauthorized) {
        forget();
        showIdentity();
        showError(
          `The coordinator refused this client's token (revoked, or the coordinator was reset): ${message.message}. Enter an enrolment token and start again.`,
        );
      } else showError(message.message);
      stop(false);
      break;
  }
}

/** Drops this tab's identity from the browser's storage. */
function forget(): void {
  if (identity) {
    const id = identity.clientId;
    saveIdentities(savedIdentities().filter((s) => s.clientId !== id));
  }
  identity = null;
  showIdentity();
}

function stop(byUser: boolean): void {
  worker?.terminate();
  worker = null;
  $<HTMLButtonElement>("start").disabled = false;
  $<HTMLButtonElement>("stop").disabled = true;
  if (byUser) setConnection("stopped", "stopped");
}

/** Settles once the tab has claimed a saved identity, if any (set by {@linkcode init}). */
let claimed: Promise<void> = Promise.resolve();

async function enrol(): Promise<Identity> {
  await claimed;
  if (identity) return identity;
  const enrolmentToken = $<HTMLInputElement>("enrolment-token").value.trim();
  if (!enrolmentToken) {
    throw new Error("Enter the enrolment token the coordinator printed (or open its join link)");
  }
  const enrolled = await CoordinatorClient.enrol(location.origin, { enrolmentToken });
  await holdLock(lockName(enrolled));
  saveIdentities([...savedIdentities(), enrolled]);
  identity = enrolled;
  showIdentity();
  log(`enrolled as ${enrolled.clientId}`);
  return enrolled;
}

async function start(): Promise<void> {
  showError(null);
  if (!data) {
    showError("Choose data first: image or data files, text, or the demo shard");
    return;
  }
  let me: Identity;
  try {
    me = await enrol();
  } catch (error) {
    const message = error instanceof CoordinatorError
      ? `The coordinator refused the enrolment token: ${error.message}`
      : error instanceof UnreachableError
      ? error.message
      : error instanceof Error
      ? error.message
      : String(error);
    showError(message);
    return;
  }
  const forced = $<HTMLSelectElement>("backend").value as WebBackendName | "";
  const message: TrainStart = {
    coordinator: location.origin,
    taskId,
    clientId: me.clientId,
    token: me.token,
    backend: forced || undefined,
    wasmPath: new URL("./", location.href).href,
    data,
  };
  worker = new Worker(new URL("./train_worker.js", location.href), { type: "module" });
  worker.onmessage = (event: MessageEvent<TrainMessage>) => onMessage(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    onMessage({
      kind: "error",
      message: `the training worker crashed: ${event.message}`,
      unauthorized: false,
    });
  };
  worker.postMessage(message);
  $<HTMLButtonElement>("start").disabled = true;
  $<HTMLButtonElement>("stop").disabled = false;
  setConnection("starting", "starting the backend");
}

function demoShard(): string {
  const key = `${storageKey}:demo-shard`;
  let shard = localStorage.getItem(key);
  if (!shard || !/^\d+\/\d+$/.test(shard)) {
    shard = `${1 + Math.floor(Math.random() * DEMO_SHARDS)}/${DEMO_SHARDS}`;
    localStorage.setItem(key, shard);
  }
  return params.get("shard") ?? shard;
}

/** Wires the page up: the join link's token, the backend choice, the buttons. */
function init(): void {
  $<HTMLInputElement>("enrolment-token").value = params.get("enrol") ?? "";
  const forcedBackend = params.get("backend");
  if (forcedBackend && (WEB_BACKENDS as readonly string[]).includes(forcedBackend)) {
    $<HTMLSelectElement>("backend").value = forcedBackend;
  }
  $("forget").addEventListener("click", forget);
  claimed = claimIdentity().then((id) => {
    identity ??= id;
    showIdentity();
  });
  $<HTMLInputElement>("files").addEventListener("change", (event) => {
    const files = [...((event.target as HTMLInputElement).files ?? [])];
    data = files.length ? { kind: "files", files } : null;
    text(
      "data-summary",
      files.length
        ? `${files.length} file(s) chosen; they stay in this browser.`
        : "No data chosen.",
    );
  });
  $<HTMLTextAreaElement>("pasted-text").addEventListener("input", (event) => {
    const pasted = (event.target as HTMLTextAreaElement).value;
    const lines = pasted.split(/\r?\n/).filter((line) => line.trim()).length;
    data = lines ? { kind: "text", text: pasted } : null;
    text(
      "data-summary",
      lines ? `${lines} line(s) of text; they stay in this browser.` : "No data chosen.",
    );
  });
  $("demo").addEventListener("click", () => {
    const shard = demoShard();
    data = { kind: "demo", shard };
    text(
      "data-summary",
      `Demo shard ${shard} of the MNIST digits (some rows labeled, the rest unlabeled).`,
    );
  });
  $("start").addEventListener("click", () => void start());
  $("stop").addEventListener("click", () => stop(true));
}

/** Shows why the page cannot run in this browser, and leaves every control off. */
function refuse(problem: string): void {
  showError(problem);
  setConnection("failed", "cannot run here");
  for (
    const id of ["enrolment-token", "files", "pasted-text", "demo", "backend", "start", "stop"]
  ) {
    ($(id) as HTMLInputElement).disabled = true;
  }
  text("identity", "Not enrolled: this page cannot train here (see above).");
}

// Nothing else runs before the browser is known to give what the page needs.
const problem = unmetNeeds({
  secure: globalThis.isSecureContext === true,
  origin: location.origin,
  locks: typeof navigator.locks?.request === "function",
  webCrypto: typeof crypto?.subtle === "object" && typeof crypto.randomUUID === "function",
  workers: typeof Worker === "function",
});
if (problem) refuse(problem);
else init();

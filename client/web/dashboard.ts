/**
 * The coordinator's dashboard at `/`: each task's round, phase and time
 * left, plots of accuracy, loss, bytes and update norms by round, and the
 * clients, kept live by the `/v1/events` stream (no reload).
 * @module
 */
/// <reference lib="dom" />
import uPlot from "uplot";
import { JoinLinkSchema, type Status } from "../../shared/schemas/mod.ts";

const TOKEN_KEY = "fl-dashboard-token";
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const text = (id: string, value: string) => ($(id).textContent = value);

const statuses = new Map<string, Status>();
let selected: string | null = null;

/** The token: from the link's fragment (`#token=…`, never sent to the server), else this tab's. */
function token(): string | null {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function setConnection(state: string, label: string): void {
  const el = $("connection");
  el.dataset.state = state;
  el.textContent = label;
}

interface Chart {
  plot: uPlot;
  el: HTMLElement;
}

const charts = new Map<string, Chart>();

function chart(id: string, series: { label: string; stroke: string }[], yLabel: string): Chart {
  const existing = charts.get(id);
  if (existing) return existing;
  const el = $(id);
  const plot = new uPlot(
    {
      width: Math.max(320, el.clientWidth || 560),
      height: 220,
      scales: { x: { time: false } },
      axes: [
        { label: "round", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] },
        { label: yLabel, size: 72 },
      ],
      series: [
        { label: "round" },
        ...series.map((s) => ({ ...s, width: 2, points: { show: true, size: 6 } })),
      ],
    },
    [[], ...series.map(() => [])],
    el,
  );
  const made = { plot, el };
  charts.set(id, made);
  return made;
}

/** Sets a chart's data and tells the page (and tests) how many rounds it shows. */
function plot(c: Chart, data: (number | null)[][]): void {
  c.plot.setData(data as uPlot.AlignedData);
  c.el.dataset.points = String(data[0]!.length);
}

function render(): void {
  const status = selected ? statuses.get(selected) : undefined;
  if (!status) return;
  const history = status.history;
  text("round", `${status.round} of ${status.totalRounds}`);
  text("version", String(status.version));
  // A secure round: its protocol stage, and how many clients are done with it.
  text(
    "phase",
    status.secureStage && status.phase === "training"
      ? `${status.phase}, secure aggregation: ${status.secureStage}`
      : status.phase,
  );
  text("received", `${status.received} of ${status.targetClients}`);
  const last = history.at(-1);
  text("accuracy", last?.accuracy == null ? "–" : `${(100 * last.accuracy).toFixed(2)}%`);
  const rounds = history.map((h) => h.round);
  // A sequence task: perplexity beside accuracy.
  const sequences = history.some((h) => h.perplexity !== undefined);
  $("perplexity-stat").hidden = !sequences;
  $("perplexity-chart").hidden = !sequences;
  if (sequences) {
    const lastPerplexity = history.findLast((h) => h.perplexity !== undefined)?.perplexity;
    text("perplexity", lastPerplexity === undefined ? "–" : lastPerplexity.toFixed(2));
    plot(
      chart("chart-perplexity", [{ label: "holdout", stroke: "#1f6feb" }], "perplexity"),
      [rounds, history.map((h) => h.perplexity ?? null)],
    );
  }
  plot(
    chart("chart-accuracy", [
      { label: "holdout", stroke: "#1f6feb" },
      { label: "clients (federated)", stroke: "#d97706" },
    ], "accuracy"),
    [rounds, history.map((h) => h.accuracy), history.map((h) => h.federated?.accuracy ?? null)],
  );
  plot(
    chart("chart-loss", [
      { label: "holdout", stroke: "#1f6feb" },
      { label: "clients (federated)", stroke: "#d97706" },
    ], "cross-entropy"),
    [rounds, history.map((h) => h.loss), history.map((h) => h.federated?.loss ?? null)],
  );
  plot(
    chart("chart-bytes", [{ label: "bytes received", stroke: "#0a7a32" }], "bytes"),
    [rounds, history.map((h) => h.bytesReceived)],
  );
  const norms = history.map((h) =>
    h.updates.map((u) => u.norm).filter((n): n is number => n !== undefined)
  );
  plot(
    chart("chart-norms", [
      { label: "mean", stroke: "#7c3aed" },
      { label: "max", stroke: "#b3261e" },
    ], "L2 norm"),
    [
      rounds,
      norms.map((n) => (n.length ? n.reduce((a, b) => a + b, 0) / n.length : null)),
      norms.map((n) => (n.length ? Math.max(...n) : null)),
    ],
  );
  // Differential privacy: epsilon against round, with the budget.
  $("privacy").hidden = !status.privacy;
  if (status.privacy) {
    const p = status.privacy;
    text(
      "privacy-budget",
      `(delta ${p.delta.toPrecision(3)}${p.maxEpsilon === null ? "" : `, budget ${p.maxEpsilon}`}${
        p.stoppedBecause ? `; stopped: ${p.stoppedBecause}` : ""
      })`,
    );
    plot(
      chart("chart-epsilon", [{ label: "epsilon", stroke: "#b3261e" }], "epsilon"),
      [rounds, history.map((h) => (h.round === 0 ? 0 : h.privacy?.epsilon ?? null))],
    );
  }
  const body = $("clients").querySelector("tbody")!;
  body.replaceChildren(...status.clients.map((c) => {
    const row = document.createElement("tr");
    row.dataset.client = c.id;
    const cells = [
      c.id,
      c.runtime ?? "–",
      c.backend ?? "–",
      c.device ?? "–",
      new Date(c.lastSeen).toLocaleTimeString(),
      String(c.updatesAccepted),
      String(c.updatesRejected),
      c.lastRejection ?? "",
      c.numLabeled === null ? "–" : String(c.numLabeled),
      c.numUnlabeled === null ? "–" : String(c.numUnlabeled),
      // An edge: the devices whose updates its last one combined.
      c.devices === null ? "–" : String(c.devices),
    ];
    row.replaceChildren(...cells.map((value, i) => {
      const cell = document.createElement("td");
      cell.textContent = value;
      if (i === 7) {
        cell.className = "reason";
        cell.title = value;
      }
      return cell;
    }));
    return row;
  }));
  tick();
}

/** The time left in the open round, refreshed every second. */
function tick(): void {
  const deadline = selected ? statuses.get(selected)?.deadline : null;
  if (!deadline) {
    text("time-left", "–");
    return;
  }
  const seconds = Math.max(0, Math.round((Date.parse(deadline) - Date.now()) / 1000));
  text("time-left", `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`);
}

function onStatus(taskId: string, status: Status): void {
  const known = statuses.has(taskId);
  statuses.set(taskId, status);
  if (!known) {
    const option = document.createElement("option");
    option.value = option.textContent = taskId;
    $("task").append(option);
    selected ??= taskId;
  }
  if (taskId === selected) render();
}

/** Reads the server-sent events of `/v1/events` (fetch, so the token goes in a header). */
async function follow(bearer: string | null): Promise<void> {
  const response = await fetch("/v1/events", {
    headers: bearer ? { Authorization: `Bearer ${bearer}` } : {},
  });
  if (response.status === 401 || response.status === 403) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new Error("unauthorized");
  }
  if (!response.ok || !response.body) {
    throw new Error(`the coordinator answered ${response.status}`);
  }
  setConnection("live", "live");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the stream ended");
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) =>
        l.slice(5).trimStart()
      ).join("\n");
      if (!data) continue;
      const event = JSON.parse(data) as { taskId: string; status: Status };
      onStatus(event.taskId, event.status);
    }
  }
}

async function connect(): Promise<void> {
  let delay = 1000;
  for (;;) {
    // Without a token, a coordinator run with --insecure still answers.
    const bearer = token();
    $("token-form").hidden = true;
    try {
      await follow(bearer);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (reason === "unauthorized") {
        setConnection("failed", bearer ? "the token was refused" : "a token is needed");
        $("token-form").hidden = false;
        return;
      }
      setConnection("retrying", `coordinator unreachable (${reason}), retrying`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(2 * delay, 15_000);
    }
  }
}

$("task").addEventListener("change", (event) => {
  selected = (event.target as HTMLSelectElement).value;
  render();
});
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $<HTMLInputElement>("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  void connect();
});
/** Asks for a join link (admin) and shows it with its QR code. */
async function showJoinLink(): Promise<void> {
  const bearer = token();
  text("join-error", "");
  try {
    const response = await fetch("/v1/join-link", {
      method: "POST",
      headers: bearer ? { Authorization: `Bearer ${bearer}` } : {},
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body?.error?.message ?? `answered ${response.status}`);
    const link = JoinLinkSchema.parse(body);
    $<HTMLImageElement>("join-qr").src = `data:image/svg+xml;charset=utf-8,${
      encodeURIComponent(link.svg)
    }`;
    const anchor = $<HTMLAnchorElement>("join-link");
    anchor.href = link.url;
    anchor.textContent = link.url;
    $("join-result").hidden = false;
  } catch (error) {
    text(
      "join-error",
      `No join link: ${error instanceof Error ? error.message : error} (it needs the admin token)`,
    );
  }
}

$("join-create").addEventListener("click", () => void showJoinLink());
setInterval(tick, 1000);
void connect();

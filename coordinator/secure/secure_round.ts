/**
 * The coordinator's side of one secure round (SecAgg+), as named stages over
 * an explicit state: `keys` (clients advertise two public keys; closes at
 * the round's target, or at its deadline with a quorum), `shares` (each
 * client sends its t-of-n shares sealed to its neighbours, which the
 * coordinator forwards and cannot read), `input` (each client sends its
 * masked input), `unmask` (the survivors reveal, for each neighbour, the
 * self-mask share of one that sent its input or the mask-key share of one
 * that dropped), then `done` with the sum of the inputs, or `failed` with
 * the reason. Each stage after `keys` has its own deadline.
 *
 * Every change is an event, recorded (durably, by the caller's `record`)
 * before it is applied; a round restored from its events is where it was.
 * The survivors and the dropped are fixed by an event before any client is
 * asked to reveal, so a restarted coordinator asks the same question.
 * @module
 */
import type { PublicKeys, RevealedShare, SealedShare } from "../../shared/secagg/client.ts";
import { neighbourGraph } from "../../shared/secagg/graph.ts";
import { unmask, UnmaskError } from "../../shared/secagg/server.ts";
import type { SecureStage, SecureState } from "../../shared/secagg/wire.ts";
import { ApiError } from "../http/errors.ts";
import { stateView } from "./_state_view.ts";
import type { SecureEvent, SecureRoundOptions } from "./secure_events.ts";

export type { SecureEvent, SecureOutcome, SecureRoundOptions } from "./secure_events.ts";

const conflict = (message: string) => new ApiError(409, "invalid_phase", message);
const invalid = (message: string) => new ApiError(400, "bad_request", message);

/** One round's protocol at the coordinator. */
export class SecureRound {
  readonly #o: SecureRoundOptions;
  #stage: SecureStage = "keys";
  #reason: string | null = null;
  #keysDeadlinePassed = false;
  #deadlineAt: number | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Stage keys: who advertised. */
  #keys = new Map<string, PublicKeys>();
  /** Fixed when `keys` closes: the clients of the round and their graph. */
  #graph = new Map<string, Set<string>>();
  /** Stage shares: the sealed shares, by sender. */
  #shares = new Map<string, SealedShare[]>();
  /** Stage input: the masked inputs, by sender. */
  #inputs = new Map<string, Uint32Array>();
  /** Fixed when `input` closes. */
  #survivors = new Set<string>();
  #dropped = new Set<string>();
  /** Stage unmask: the revealed shares, by revealer. */
  #revealed = new Map<string, RevealedShare[]>();
  #startedUnmask = 0;
  /** Set once the masks are being removed: later reveals change nothing. */
  #unmasking = false;

  private constructor(options: SecureRoundOptions) {
    this.#o = options;
  }

  /** A new round in stage `keys`, or one restored from its recorded `events`. */
  static create(options: SecureRoundOptions, events: SecureEvent[] = []): SecureRound {
    const round = new SecureRound(options);
    for (const event of events) round.#apply(event);
    // A round that ended before its close was committed ends again: the sum
    // is computed anew from the same recorded inputs and shares.
    if (round.#stage === "done") round.#stage = "unmask";
    if (round.#stage === "failed") {
      const reason = round.#reason ?? "failed";
      queueMicrotask(() =>
        options.onDone({ kind: "failed", reason, advertised: round.#keys.size })
      );
      return round;
    }
    if (round.#stage !== "keys") round.#armStage();
    if (round.#stage === "unmask") round.#maybeUnmask();
    return round;
  }

  /** The stage the round is in. */
  get stage(): SecureStage {
    return this.#stage;
  }

  /** How many clients have done the current stage's part (for status). */
  get progress(): number {
    return {
      keys: this.#keys.size,
      shares: this.#shares.size,
      input: this.#inputs.size,
      unmask: this.#inputs.size,
      done: this.#inputs.size,
      failed: 0,
    }[this.#stage];
  }

  /** The clients that sent a masked input. */
  hasInput(clientId: string): boolean {
    return this.#inputs.has(clientId);
  }

  /** Stops the stage timer. */
  close(): void {
    clearTimeout(this.#timer);
  }

  /** Something changed outside the round (a client reported a failure): see if a stage is complete. */
  recheck(): void {
    if (this.#stage === "keys") this.#maybeAdvance();
  }

  /** The round's deadline passed: the keys stage may now close with a quorum. */
  deadlinePassed(): void {
    this.#keysDeadlinePassed = true;
    this.#maybeAdvance();
  }

  /** Stage keys: `keys.id` advertises its public keys (a resend of the same keys is accepted again). */
  addKeys(keys: PublicKeys): void {
    const known = this.#keys.get(keys.id);
    if (known && sameKeys(known, keys)) return;
    this.#expect("keys", "advertise keys");
    if (known) throw conflict(`Cannot advertise keys: "${keys.id}" already advertised others`);
    for (const key of [keys.encryptionKey, keys.maskKey]) {
      if (key.length !== 32) throw invalid("Cannot advertise keys: a key has 32 bytes");
    }
    this.#commit({ kind: "keys", keys });
  }

  /** Stage shares: `from` sends its shares, one sealed to each of its neighbours. */
  addShares(from: string, shares: SealedShare[]): void {
    if (this.#shares.has(from) && this.#stage !== "keys") return;
    this.#expect("shares", "accept shares");
    const neighbours = this.#member(from, "send shares");
    const to = new Set(shares.map((s) => s.to));
    if (
      to.size !== shares.length || to.size !== neighbours.size ||
      ![...to].every((id) => neighbours.has(id))
    ) {
      throw invalid(
        `Cannot accept shares: "${from}" must send one to each of its ${neighbours.size} neighbours`,
      );
    }
    this.#commit({ kind: "shares", from, shares: shares.map((s) => ({ ...s, from })) });
  }

  /** Stage input: `from`'s masked input. */
  addInput(from: string, input: Uint32Array): void {
    if (this.#inputs.has(from)) return;
    this.#expect("input", "accept a masked input");
    if (!this.#shares.has(from)) {
      throw conflict(`Cannot accept a masked input: "${from}" did not share its keys this round`);
    }
    if (input.length !== this.#o.inputLength) {
      throw invalid(
        `Cannot accept a masked input: it has ${input.length} values, the task's ${this.#o.inputLength}`,
      );
    }
    this.#commit({ kind: "input", from, input });
  }

  /** Stage unmask: `from` reveals shares of its neighbours' (and its own) secrets. */
  addReveal(from: string, shares: RevealedShare[]): void {
    // Late shares of a survivor, once the masks are being removed, are not needed.
    if (this.#revealed.has(from) || (this.#unmasking && this.#survivors.has(from))) return;
    this.#expect("unmask", "accept revealed shares");
    if (!this.#survivors.has(from)) {
      throw conflict(`Cannot accept revealed shares: "${from}" sent no masked input this round`);
    }
    const holders = new Set([from, ...this.#graph.get(from)!]);
    for (const s of shares) {
      const expected = this.#survivors.has(s.about)
        ? "self-mask seed"
        : this.#dropped.has(s.about)
        ? "mask key"
        : null;
      if (!holders.has(s.about) || expected !== s.kind) {
        throw invalid(
          `Cannot accept revealed shares: "${from}" may reveal no ${s.kind} share of "${s.about}"`,
        );
      }
    }
    this.#commit({ kind: "reveal", from, shares: shares.map((s) => ({ ...s, from })) });
  }

  /** What `clientId` needs to know for its next step. */
  stateFor(clientId: string): Omit<SecureState, "round"> {
    return stateView({
      stage: this.#stage,
      deadlineAt: this.#deadlineAt,
      reason: this.#reason,
      keys: this.#keys,
      graph: this.#graph,
      shares: this.#shares,
      inputs: this.#inputs,
      survivors: this.#survivors,
      dropped: this.#dropped,
      revealed: this.#revealed,
    }, clientId);
  }

  /** What the failures list says of a client that took part and sent no input. */
  dropReason(clientId: string): string {
    if (this.#shares.has(clientId)) return "shared its keys, then sent no masked input";
    if (this.#keys.has(clientId)) return "advertised its keys, then shared none";
    return "sent no keys before the round closed";
  }

  #expect(stage: SecureStage, what: string): void {
    if (this.#stage !== stage) {
      throw conflict(
        `Cannot ${what}: secure round ${this.#o.round} is at stage "${this.#stage}", not "${stage}"`,
      );
    }
  }

  #member(id: string, what: string): Set<string> {
    const neighbours = this.#graph.get(id);
    if (!neighbours) {
      throw conflict(`Cannot ${what}: "${id}" did not advertise keys before the keys stage closed`);
    }
    return neighbours;
  }

  /** Records `event` (durably), applies it, and moves on if the stage is complete. */
  #commit(event: SecureEvent): void {
    this.#o.record?.(event);
    this.#apply(event);
    this.#maybeAdvance();
  }

  #apply(event: SecureEvent): void {
    switch (event.kind) {
      case "keys":
        this.#keys.set(event.keys.id, event.keys);
        break;
      case "shares":
        this.#shares.set(event.from, event.shares);
        break;
      case "input":
        this.#inputs.set(event.from, event.input);
        break;
      case "reveal":
        this.#revealed.set(event.from, event.shares);
        break;
      case "advance":
        this.#enter(event.to, event.reason);
    }
  }

  /** Enters stage `to`, fixing the sets the previous stage decided. */
  #enter(to: SecureStage, reason?: string): void {
    if (to === "shares") {
      this.#graph = neighbourGraph([...this.#keys.keys()].sort(), {
        degree: this.#o.params.degree,
        seed: this.#o.graphSeed,
      });
    }
    if (to === "unmask") {
      this.#survivors = new Set(this.#inputs.keys());
      this.#dropped = new Set([...this.#shares.keys()].filter((id) => !this.#inputs.has(id)));
      this.#startedUnmask = performance.now();
    }
    this.#stage = to;
    this.#reason = reason ?? null;
  }

  #armStage(): void {
    clearTimeout(this.#timer);
    if (this.#stage === "done" || this.#stage === "failed") {
      this.#deadlineAt = null;
      return;
    }
    const ms = this.#o.params.stageTimeoutSeconds * 1000;
    this.#deadlineAt = Date.now() + ms;
    this.#timer = setTimeout(() => this.#onStageDeadline(), ms);
  }

  #advance(to: SecureStage, reason?: string): void {
    this.#commit({ kind: "advance", to, reason });
  }

  #maybeAdvance(): void {
    const { threshold } = this.#o.params;
    switch (this.#stage) {
      case "keys": {
        const complete = this.#o.complete?.(new Set(this.#keys.keys())) ?? false;
        if (
          this.#keys.size >= this.#o.target ||
          ((this.#keysDeadlinePassed || complete) && this.#keys.size >= this.#o.quorum)
        ) this.#move("shares");
        else if (complete) {
          this.#fail(
            `every client drawn advertised keys, ${this.#keys.size} of them, fewer than the quorum ${this.#o.quorum}`,
          );
        }
        break;
      }
      case "shares":
        if (this.#shares.size === this.#graph.size) this.#move("input");
        break;
      case "input":
        if (this.#inputs.size === this.#shares.size) this.#closeInput(threshold);
        break;
      case "unmask":
        this.#maybeUnmask();
    }
  }

  #move(to: SecureStage): void {
    this.#advance(to);
    this.#armStage();
  }

  #onStageDeadline(): void {
    const { threshold } = this.#o.params;
    if (this.#stage === "shares") {
      if (this.#shares.size >= threshold) this.#move("input");
      else {
        this.#fail(
          `${this.#shares.size} clients shared their keys before the deadline, fewer than the threshold ${threshold}`,
        );
      }
    } else if (this.#stage === "input") this.#closeInput(threshold);
    else if (this.#stage === "unmask") {
      this.#fail(
        `too few shares were revealed before the deadline to remove the masks (threshold ${threshold}); nothing was unmasked`,
      );
    }
  }

  #closeInput(threshold: number): void {
    if (this.#inputs.size < threshold) {
      this.#fail(
        `${this.#inputs.size} clients sent their masked input, fewer than the threshold ${threshold}; nothing was unmasked`,
      );
    } else this.#move("unmask");
  }

  #fail(reason: string): void {
    this.#advance("failed", reason);
    this.#armStage();
    this.#o.onDone({ kind: "failed", reason, advertised: this.#keys.size });
  }

  /** Unmasks once every survivor's seed and every dropped client's key has enough shares. */
  #maybeUnmask(): void {
    if (this.#stage !== "unmask" || this.#unmasking) return;
    const { threshold } = this.#o.params;
    const count = new Map<string, number>();
    for (const list of this.#revealed.values()) {
      for (const s of list) count.set(s.about, (count.get(s.about) ?? 0) + 1);
    }
    const needed = [...this.#survivors, ...this.#dropped];
    if (!needed.every((id) => (count.get(id) ?? 0) >= threshold)) return;
    clearTimeout(this.#timer);
    this.#unmasking = true;
    const keys = new Map([...this.#shares.keys()].map((id) => [id, this.#keys.get(id)!]));
    const started = this.#startedUnmask;
    unmask({
      params: { round: this.#o.round, threshold, bits: this.#o.params.bits },
      keys,
      graph: this.#graph,
      maskedInputs: this.#inputs,
      revealed: [...this.#revealed.values()].flat(),
    }).then(({ sum, survivors }) => {
      this.#advance("done");
      this.#armStage();
      this.#o.onDone({
        kind: "sum",
        sum,
        survivors,
        dropped: [...this.#dropped].sort(),
        advertised: this.#keys.size,
        unmaskSeconds: (performance.now() - started) / 1000,
      });
    }, (error) => {
      if (error instanceof UnmaskError) this.#fail(error.message);
      else (this.#o.onError ?? console.error)(error);
    });
  }
}

function sameKeys(a: PublicKeys, b: PublicKeys): boolean {
  const eq = (x: Uint8Array, y: Uint8Array) =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.encryptionKey, b.encryptionKey) && eq(a.maskKey, b.maskKey);
}

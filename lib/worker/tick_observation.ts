/**
 * Whether the timers a package host still holds only poll: the part of the idle look
 * (worker/idle.ts) that runs once the host holds nothing but timers.
 *
 * A start-sdk `Watchable` may watch by polling (open-webui's `produce()` stats its database every
 * 3 s and fetches again only when a modification time moved): the timer holds the host although
 * each of its ticks only looks at files. So when the event loop drains with nothing left but
 * timers, the look waits for them to fire and records what each tick does until the loop drains
 * again (worker/poll_reads.ts). Once every timer still holding the host was set by a tick that
 * only looked, or is an interval that ticked so, the host polls and nothing else: the answer lists
 * the paths with the state its ticks saw and how often they look, and the runtime looks at them
 * instead (process/host_watch.ts). As long as they stay as they were, the next tick would do
 * again what the last did: nothing.
 *
 * Timers init's call left behind that have not fired `LEFTOVER_TIMERS_MS` after the look began are
 * not waited for: start-sdk leaves several once their work is done (`Daemons.runUntilSuccess`'s
 * timeout, a command's SIGKILL escalation and its `timeout * 2` race, health checks' timeout
 * races; 30 s to 10 min, measured in open-webui's install) and none of them does anything then.
 * A retired host does not run them; the answer counts them (`droppedTimers`) for the runtime's log.
 * A poll slower than that, set in init, is such a timer too: its host is retired without it.
 *
 * A tick that did anything else (an effect, a process, a write, console output; a callback or a
 * call arriving during it) was work: the observation starts again with the timers then set, so a
 * host whose timers keep working is kept, as before, and one whose last timer did its work and
 * left nothing is retired once the loop drains. What it cannot know is
 * a tick whose behaviour depends on something other than the paths it looks at (the clock, a
 * counter of its own): retired, such a host loses that reactivity, never a permission.
 * Runs inside the worker process.
 * @module
 */

import type { PolledPath } from "../protocol/channel.ts";
import type { FileState } from "../protocol/file_state.ts";
import type { Clock, TimerId } from "../process/clock.ts";
import type { TimerInfo } from "./package_timers.ts";
import type { TickReads } from "./poll_reads.ts";

/** What the observation reads of the timers (worker/package_timers.ts). */
export interface HeldTimers {
  /** The live timers that keep the event loop alive. */
  holding(): TimerInfo[];
}

/** What the observation reads of the recorded ticks (worker/poll_reads.ts). */
export interface TickRecorder {
  /** Starts recording a tick. */
  begin(): void;
  /** Notes something the tick did that is not a look at a path. */
  spoil(what: string): void;
  /** Ends the tick. */
  end(): TickReads;
}

/** How long after the look began the timers init's call left are no longer waited for (ms). */
export const LEFTOVER_TIMERS_MS = 8_000;

/** What the idle answer takes of an observation that ended. */
export interface ObservedTimers {
  /** The paths the ticks polled, with their state and period. */
  polls: PolledPath[];
  /** The delays (ms) of the timers init's call left and the look did not wait for. */
  droppedTimers: number[];
}

/** How an observation tells time and reports. */
export interface ObservationOptions {
  /** What the wait for init's leftover timers runs on (its timers must not hold the loop). */
  clock: Clock;
  /** How long the leftovers are waited for (default `LEFTOVER_TIMERS_MS`). */
  leftoverMs?: number;
  /** Told why, the first time a tick did work of its own. */
  onHeld?: (why: string) => void;
}

/** The verdict at a drained event loop. */
export type Verdict =
  /** Holding nothing but polls (or nothing at all): answer. */
  | "idle"
  /** Timers hold the host whose ticks are still to be seen: wait for them. */
  | "wait";

/** One observation of a host's timers, from the first drained loop to the verdict. */
export class TickObservation {
  readonly #timers: HeldTimers;
  readonly #recorder: TickRecorder;
  #state: "none" | "waiting" | "tick" = "none";
  /** Timers set by an observed tick, and intervals that ticked. */
  readonly #covered = new Set<number>();
  readonly #reads = new Map<string, FileState | null>();
  #everyMs = Infinity;
  #why: string | null = null;
  /** The timers holding when the look began (init's call left them); null before. */
  #leftovers: Set<number> | null = null;
  /** The leftovers are no longer waited for. */
  #expired = false;
  /** `onHeld` was told. */
  #told = false;
  #deadline: TimerId | undefined;
  readonly #options: Required<ObservationOptions>;

  /**
   * @param timers the host's timers
   * @param recorder what records a tick
   * @param options the clock, how long leftovers are waited for, what is told of work (once,
   *   when a tick's work leaves timers to wait for)
   */
  constructor(timers: HeldTimers, recorder: TickRecorder, options: ObservationOptions) {
    this.#timers = timers;
    this.#recorder = recorder;
    this.#options = { leftoverMs: LEFTOVER_TIMERS_MS, onHeld: () => {}, ...options };
  }

  /**
   * The look began (the first question): the leftovers' wait starts.
   * @param expired called once the leftovers are no longer waited for (look again then)
   */
  lookBegan(expired: () => void): void {
    if (this.#deadline !== undefined || this.#expired) return;
    this.#deadline = this.#options.clock.setTimeout(() => {
      this.#deadline = undefined;
      this.#expired = true;
      expired();
    }, this.#options.leftoverMs);
  }

  /** Whether ticks are awaited: the timers must keep the event loop alive meanwhile. */
  get waiting(): boolean {
    return this.#state === "waiting" && !this.#expired;
  }

  /** Why the last tick that did work was not a poll; null while none did. */
  get heldFor(): string | null {
    return this.#why;
  }

  /** A timer was set. */
  created(timer: TimerInfo): void {
    if (this.#state === "tick") this.#covered.add(timer.key);
  }

  /**
   * A timer fires.
   * @returns true when this begins or continues an observed tick (the loop may drain after it)
   */
  fired(timer: TimerInfo): boolean {
    if (this.#state !== "waiting" && this.#state !== "tick") return false;
    if (this.#state === "waiting") this.#recorder.begin();
    this.#state = "tick";
    if (timer.repeating) this.#covered.add(timer.key);
    this.#everyMs = Math.min(this.#everyMs, timer.delayMs);
    return true;
  }

  /**
   * Something the look counts began (an effect, a process, a call) or a callback arrived: during
   * a tick, the tick did work of its own; between ticks, the observation starts again later.
   * @param what what began, for the reason kept
   */
  interrupted(what: string): void {
    if (this.#state === "tick") this.#recorder.spoil(what);
    else if (this.#state === "waiting") this.#reset();
  }

  /** The event loop drained with nothing counted. @returns what the look does now */
  drained(): Verdict {
    if (this.#state === "tick") {
      const tick = this.#recorder.end();
      if (tick.impure === null) {
        for (const [path, state] of tick.reads) this.#reads.set(path, state);
      } else {
        // Work: what it looked at before says nothing any more; its timers are seen anew.
        this.#why = `a timer's tick did more than look at files: ${tick.impure}`;
        this.#reset();
      }
    }
    const holding = this.#timers.holding();
    this.#leftovers ??= new Set(holding.map((timer) => timer.key));
    if (holding.every((timer) => this.#settled(timer))) return "idle";
    // Told once, and only when the work leaves timers to wait for (not when it was the last).
    if (this.#why !== null && !this.#told) {
      this.#told = true;
      this.#options.onHeld(this.#why);
    }
    this.#state = "waiting";
    return "wait";
  }

  /** Seen to poll, or a leftover of init's no longer waited for. */
  #settled(timer: TimerInfo): boolean {
    return this.#covered.has(timer.key) || (this.#expired && this.#leftovers!.has(timer.key));
  }

  /**
   * What the observation found, for the idle answer; a later look starts anew.
   * @returns each path the ticks looked at, with the state they last saw and the shortest period
   *   among them, and the leftovers not waited for
   */
  take(): ObservedTimers {
    const everyMs = Number.isFinite(this.#everyMs) ? this.#everyMs : 0;
    const polls = [...this.#reads].map(([path, state]) => ({ path, state, everyMs }));
    const droppedTimers = this.#timers.holding()
      .filter((timer) => !this.#covered.has(timer.key))
      .map((timer) => timer.delayMs);
    this.#reset();
    if (this.#deadline !== undefined) this.#options.clock.clearTimeout(this.#deadline);
    this.#deadline = undefined;
    this.#leftovers = null;
    this.#expired = false;
    return { polls, droppedTimers };
  }

  #reset(): void {
    this.#state = "none";
    this.#covered.clear();
    this.#reads.clear();
    this.#everyMs = Infinity;
  }
}

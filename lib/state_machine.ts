/**
 * Explicit lifecycles: each state machine of the runtime (the service, main, a child) is a small
 * table of allowed moves, and every move goes through `transition`, which rejects one outside it.
 */

/** Which states each state may move to. */
export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

/** A move outside the table: a bug in the runtime, never a package's or the host's fault. */
export class IllegalTransition extends Error {
  /** Describes the move that was refused. */
  constructor(machine: string, from: string, to: string) {
    super(`${machine}: illegal transition ${from} → ${to}`);
    this.name = "IllegalTransition";
  }
}

/** Returns `to` when the table allows `from → to`; throws `IllegalTransition` otherwise. */
export function transition<S extends string>(
  machine: string,
  table: TransitionTable<S>,
  from: S,
  to: S,
): S {
  if (!table[from].includes(to)) throw new IllegalTransition(machine, from, to);
  return to;
}

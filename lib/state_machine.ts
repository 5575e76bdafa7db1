/**
 * Explicit lifecycles: each state machine of the runtime (the service, main, a child) is a small
 * table of allowed moves. Each state is a variant of a discriminated union that holds the data
 * of that state; each operation is one exhaustive switch over the variants. A table declared
 * `as const satisfies TransitionTable<S>` also types the moves (`Move`): a move outside it does
 * not compile, and `transition` checks it once more when it is made.
 */

/** Which states each state may move to. */
export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

/**
 * The states `table` lets `from` move to, as a type. With a table declared
 * `as const satisfies TransitionTable<S>`, this is exactly the table's row.
 * @example
 * ```ts
 * const DOOR = { open: ["closed"], closed: ["open", "locked"], locked: ["closed"] } as const;
 * const next: Next<typeof DOOR, "locked"> = "closed"; // "open" would not compile
 * ```
 */
export type Next<T extends TransitionTable<string>, From extends keyof T> = T[From][number];

/**
 * The variant of the union `U` whose `kind` is `K`.
 * @example
 * ```ts
 * type Light = { kind: "on"; watts: number } | { kind: "off" };
 * const on: Variant<Light, "on"> = { kind: "on", watts: 5 };
 * ```
 */
export type Variant<U extends { kind: string }, K extends U["kind"]> = Extract<U, { kind: K }>;

/** A move outside the table: a bug in the runtime, never a package's or the host's fault. */
export class IllegalTransition extends Error {
  /**
   * Describes the move that was refused.
   * @param machine the state machine's name, for the message
   * @param from the state it was in
   * @param to the state it was asked to move to
   */
  constructor(machine: string, from: string, to: string) {
    super(`${machine}: illegal transition ${from} → ${to}`);
    this.name = "IllegalTransition";
  }
}

/**
 * Checks one move against its table.
 * @param machine the state machine's name, for the error
 * @param table its allowed moves
 * @param from the state it is in
 * @param to the state it moves to
 * @returns `to` when the table allows `from → to`
 * @throws {IllegalTransition} otherwise
 */
export function transition<S extends string>(
  machine: string,
  table: TransitionTable<S>,
  from: S,
  to: S,
): S {
  if (!table[from].includes(to)) throw new IllegalTransition(machine, from, to);
  return to;
}

/**
 * Used in the `default` of an exhaustive switch over a state's `kind`: the switch does not compile
 * once a state is added and not handled.
 * @param state the state no case matched (of type `never` when every case is handled)
 * @param machine the state machine's name, for the error
 * @returns never; it throws
 */
export function unhandled(state: never, machine: string): never {
  throw new Error(
    `${machine}: unhandled state ${JSON.stringify((state as { kind: string }).kind)}`,
  );
}

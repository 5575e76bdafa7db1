/**
 * The dev host's registered effect callbacks: each runtime-wide callback id
 * watches one value ("topic"); when the value changes its ids are taken out
 * and fired once.
 */

/** Which callbacks `clear-callbacks` drops: the listed ones, or all but the listed ones. */
export type ClearSpec = { only: number[] } | { except: number[] };

/** Callback ids by the topic they watch. */
export class CallbackTable {
  readonly #topicOf = new Map<number, string>();

  /** Registers `id` as watching `topic` (a re-used id moves to the new topic). */
  register(id: number, topic: string): void {
    this.#topicOf.set(id, topic);
  }

  /** Removes and returns the ids watching `topic`, in registration order. */
  take(topic: string): number[] {
    const ids: number[] = [];
    for (const [id, watched] of this.#topicOf) {
      if (watched === topic) ids.push(id);
    }
    for (const id of ids) this.#topicOf.delete(id);
    return ids;
  }

  /** Drops registrations as `clear-callbacks` asks; returns how many were dropped. */
  clear(spec: ClearSpec): number {
    const before = this.#topicOf.size;
    if ("only" in spec) {
      for (const id of spec.only) this.#topicOf.delete(id);
    } else {
      const keep = new Set(spec.except);
      for (const id of [...this.#topicOf.keys()]) if (!keep.has(id)) this.#topicOf.delete(id);
    }
    return before - this.#topicOf.size;
  }

  /** The topic `id` watches, if it is registered. */
  topicOf(id: number): string | undefined {
    return this.#topicOf.get(id);
  }

  /** Number of registered callbacks. */
  get size(): number {
    return this.#topicOf.size;
  }
}

/**
 * Which child created which subcontainer (from the host's answers to `subcontainer.create-fs`),
 * and the mounts the spawn broker made for each child. The broker lets a child use and destroy
 * only its own subcontainers, a procedure child only those of the call it runs.
 * @module
 */

/** One subcontainer the host created for a child. */
export interface OwnedSubcontainer {
  /** The guid the host answered, which `subcontainer.destroy-fs` names it by. */
  guid: string;
  /** The rootfs path the host answered, normalised (no trailing slash). */
  rootfs: string;
  /** The event id of the call that created it (null for main). */
  eventId: string | null;
}

/** A mount the spawn broker made in a child's mount namespace. */
export interface BrokeredMount {
  /** Where it is mounted: a normalised path inside one of the child's rootfs. */
  target: string;
  /** What is mounted there: the normalised source path (a volume, an asset, `/dev`, ...). */
  source: string;
}

interface Entry {
  subcontainers: Map<string, OwnedSubcontainer>;
  mounts: BrokeredMount[];
}

/** The answer of `subcontainer.create-fs`: `[rootfs, guid]`. */
function parseCreated(result: unknown): { rootfs: string; guid: string } | null {
  if (!Array.isArray(result) || result.length !== 2) return null;
  const [rootfs, guid] = result;
  if (typeof rootfs !== "string" || typeof guid !== "string" || !rootfs.startsWith("/")) {
    return null;
  }
  const trimmed = rootfs.replace(/\/+$/, "").replace(/\/{2,}/g, "/");
  return { rootfs: trimmed === "" ? "/" : trimmed, guid };
}

/** Subcontainers and mounts per child (keyed by the child object). */
export class SubcontainerLedger {
  readonly #byOwner = new Map<object, Entry>();
  /** Children already forgotten: what the host answers them afterwards is not recorded. */
  readonly #gone = new WeakSet<object>();

  #entry(owner: object): Entry {
    let entry = this.#byOwner.get(owner);
    if (!entry) this.#byOwner.set(owner, entry = { subcontainers: new Map(), mounts: [] });
    return entry;
  }

  /**
   * Records the host's answer to a `create-fs` of `owner` made for the call `eventId`.
   * @param owner the child that asked
   * @param eventId the call it belongs to (null for main)
   * @param result the host's result, `[rootfs, guid]`; anything else is ignored
   * @returns the subcontainer when `owner` was forgotten before the answer came (it exited while
   *   the host made it): nobody owns it, and the caller destroys it; otherwise null
   */
  created(owner: object, eventId: string | null, result: unknown): OwnedSubcontainer | null {
    const parsed = parseCreated(result);
    if (!parsed) return null;
    const made = { ...parsed, eventId };
    if (this.#gone.has(owner)) return made;
    this.#entry(owner).subcontainers.set(parsed.guid, made);
    return null;
  }

  /**
   * The subcontainer `guid` of `owner`, if it created it and it was not destroyed yet.
   * @param owner the child
   * @param guid the subcontainer's guid
   * @returns the subcontainer, or undefined when `owner` does not own one by that guid
   */
  find(owner: object, guid: string): OwnedSubcontainer | undefined {
    return this.#byOwner.get(owner)?.subcontainers.get(guid);
  }

  /**
   * Forgets a destroyed subcontainer (and the mounts made inside it).
   * @param owner the child that destroyed it
   * @param guid the subcontainer's guid; one `owner` does not own is ignored
   */
  destroyed(owner: object, guid: string): void {
    const entry = this.#byOwner.get(owner);
    const owned = entry?.subcontainers.get(guid);
    if (!entry || !owned) return;
    entry.subcontainers.delete(guid);
    entry.mounts = entry.mounts.filter((m) =>
      m.target !== owned.rootfs && !m.target.startsWith(`${owned.rootfs}/`)
    );
  }

  /**
   * The rootfs paths `owner` may use: all of its own, or only those of call `eventId`.
   * @param owner the child
   * @param eventId undefined = every call's; otherwise only that call's
   * @returns the normalised rootfs paths
   */
  rootfsOf(owner: object, eventId?: string | null): string[] {
    const owned = [...(this.#byOwner.get(owner)?.subcontainers.values() ?? [])];
    return owned.filter((s) => eventId === undefined || s.eventId === eventId).map((s) => s.rootfs);
  }

  /**
   * Records a mount the broker made for `owner`.
   * @param owner the child it was made for
   * @param mount its target and source
   */
  mounted(owner: object, mount: BrokeredMount): void {
    // A forgotten child's mount namespace went with it.
    if (!this.#gone.has(owner)) this.#entry(owner).mounts.push(mount);
  }

  /**
   * The mounts the broker made for `owner`.
   * @param owner the child
   * @returns its mounts, oldest first (none inside a subcontainer it destroyed)
   */
  mountsOf(owner: object): readonly BrokeredMount[] {
    return this.#byOwner.get(owner)?.mounts ?? [];
  }

  /**
   * The child is gone: forgets it for good (later answers for it are not recorded) and returns
   * the subcontainers it never destroyed.
   * @param owner the child
   * @returns the subcontainers it still owned
   */
  forget(owner: object): OwnedSubcontainer[] {
    const entry = this.#byOwner.get(owner);
    this.#byOwner.delete(owner);
    this.#gone.add(owner);
    return [...(entry?.subcontainers.values() ?? [])];
  }
}

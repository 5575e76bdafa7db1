/**
 * The dev host's state (what the StartOS database would hold for one
 * service) and its JSON file, written atomically: the text goes to a temp
 * file in the same directory, is synced, then renamed over the old file, so
 * a crash leaves either the old state or the new one, never a torn file.
 */

import { z } from "zod";
import {
  dependencyRequirement,
  healthResult,
  host,
  json,
  notification,
  progress,
  serviceInterface,
  subcontainer,
  task,
} from "./shapes.ts";

/** The state file's schema; a file that does not match is refused at startup. */
export const devStateSchema = z.object({
  version: z.literal(1),
  /** The package this dev host serves (its manifest id). */
  packageId: z.string(),
  /** The package's manifest as the package exports it (`get-service-manifest`). */
  manifest: json,
  dataVersion: z.string().nullable(),
  /** Whether an `init` succeeded once (later sessions then send kind null, not "install"). */
  installed: z.boolean().default(false),
  /** `get-status`: health checks by id, the desired main status, when main reported running. */
  health: z.record(z.string(), healthResult),
  desired: z.enum(["running", "stopped"]),
  started: z.string().nullable(),
  /** How often the package asked for a restart (`restart`, or `constRetry` in main). */
  restarts: z.number().int().nonnegative(),
  hosts: z.record(z.string(), host),
  serviceInterfaces: z.record(z.string(), serviceInterface),
  rangeInterfaces: z.record(z.string(), json),
  dependencies: z.array(dependencyRequirement),
  tasks: z.record(z.string(), task),
  notifications: z.array(notification),
  backupProgress: progress,
  initProgress: progress,
  /** Exported actions' metadata by action id. */
  actions: z.record(z.string(), json),
  subcontainers: z.record(z.string(), subcontainer),
  mounts: z.array(json),
  pluginUrls: z.object({ tableAction: z.string().nullable(), urls: z.array(json) }),
});

/** The dev host's state. */
export type DevState = z.infer<typeof devStateSchema>;

/** A fresh state for package `packageId`. */
export function emptyState(packageId: string, manifest: z.infer<typeof json>): DevState {
  return {
    version: 1,
    packageId,
    manifest,
    dataVersion: null,
    installed: false,
    health: {},
    desired: "stopped",
    started: null,
    restarts: 0,
    hosts: {},
    serviceInterfaces: {},
    rangeInterfaces: {},
    dependencies: [],
    tasks: {},
    notifications: [],
    backupProgress: null,
    initProgress: null,
    actions: {},
    subcontainers: {},
    mounts: [],
    pluginUrls: { tableAction: null, urls: [] },
  };
}

/** Raised when the state file exists but cannot be used; the message says what to do. */
export class StateFileError extends Error {
  /** Creates the error with an operator-facing message. */
  constructor(message: string) {
    super(message);
    this.name = "StateFileError";
  }
}

/** Writes `text` to `path` atomically (temp file in the same directory, fsync, rename). */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const file = await Deno.open(temp, { write: true, create: true, truncate: true, mode: 0o644 });
    try {
      const bytes = new TextEncoder().encode(text);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/** The state and the file it lives in. */
export class StateStore {
  readonly path: string;
  /** The live state; effects mutate it, then call `save()`. */
  readonly state: DevState;
  /** True when the file did not exist and the state is new. */
  readonly created: boolean;
  #chain: Promise<void> = Promise.resolve();
  #queued: Promise<void> | undefined;

  private constructor(path: string, state: DevState, created: boolean) {
    this.path = path;
    this.state = state;
    this.created = created;
  }

  /** Loads `path`, or starts from `fresh()` when it does not exist (the file is written at once). */
  static async open(path: string, fresh: () => DevState): Promise<StateStore> {
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (text === undefined) {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true });
      const store = new StateStore(path, fresh(), true);
      await store.save();
      return store;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new StateFileError(
        `${path} is not JSON (${(error as Error).message}); delete it to start from a fresh state`,
      );
    }
    const parsed = devStateSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new StateFileError(
        `${path} is not a dev host state file (${
          issue.path.join(".") || "top level"
        }: ${issue.message}); ` +
          "delete it to start from a fresh state",
      );
    }
    return new StateStore(path, parsed.data, false);
  }

  /**
   * Writes the current state. Calls made while a write is waiting share it;
   * a call made while a write is running queues one more, so the file always
   * ends up holding the latest state.
   */
  save(): Promise<void> {
    if (this.#queued) return this.#queued;
    const write = this.#chain.then(() => {
      this.#queued = undefined;
      return writeFileAtomic(this.path, JSON.stringify(this.state, null, 2) + "\n");
    });
    this.#queued = write;
    this.#chain = write.catch(() => {});
    return write;
  }
}

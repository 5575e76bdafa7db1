/**
 * The effects broker: checks each child's effect against its profile, adds
 * `eventId`, turns child-local callback ids into runtime-wide ids and
 * forwards to the host; routes the host's callbacks back to their child.
 */

import { effectNotAllowed, unknownEffect } from "../protocol/errors.ts";
import type { Logger } from "../log.ts";
import { type OwnedSubcontainer, SubcontainerLedger } from "./subcontainer_ledger.ts";
import { TokenBucket } from "../async/token_bucket.ts";
import { type EffectAccess, effectAllowed } from "../policy/permissions.ts";
import { CALLBACK_EFFECTS, EFFECT_METHODS, EFFECTS, type EffectSpec } from "../protocol/effects.ts";
import { type ChildRole, type EffectParams, PROCEDURE_ROLES } from "../protocol/channel.ts";

const KNOWN_EFFECTS = new Set<string>(EFFECT_METHODS);

/**
 * What a procedure child may still send after its call was answered: the cleanup start-sdk runs
 * when the call's context ends (a subcontainer's teardown, dropping callbacks), which may finish
 * just after the answer: the effects the effect table declares `cleanup`. Anything else is refused.
 */
const AFTER_ANSWER_EFFECTS: ReadonlySet<string> = new Set(
  EFFECTS.filter((e: EffectSpec) => e.access === "cleanup").map((e) => e.method),
);

/** Effects per second one child may send on average, and in one burst. */
export const EFFECT_RATE = { perSecond: 1_000, burst: 5_000 } as const;
/** Effects per second all children together may send (what one child may, at most, burst). */
export const CONTAINER_EFFECT_RATE = { perSecond: 2_000, burst: 5_000 } as const;
/**
 * Bytes of effect params one child, and all children together, may have waiting for the host's
 * answers: a slow host cannot make the runtime hold what a child sends faster.
 */
export const PENDING_EFFECT_BYTES = { perChild: 8 * 1024 * 1024, container: 32 * 1024 * 1024 };

/** What the broker uses of a child (the launcher's `Child` is one). */
export interface BrokerChild {
  /** A short name for logs: `run#3`. */
  readonly name: string;
  /** Its role, which is its profile's name. */
  readonly role: ChildRole;
  /** Its profile's effect access. */
  readonly profile: { readonly effects: EffectAccess };
  /** The host procedure id the child currently works for, added to its effects as `eventId`. */
  readonly eventId: string | null;
  /** True while a call runs in the child (a procedure child's context closes at its answer). */
  readonly inCall: boolean;
  /** Delivers a fired callback (child-local id). */
  callback(localId: number, args: unknown[]): void;
}

/** What the broker uses of the host connection (`HostClient` is one). */
export interface HostEffects {
  /** Sends one effect and resolves with the host's result. */
  call(method: string, params: Record<string, unknown>): Promise<unknown>;
  /** Sends a best-effort call, logging instead of throwing. */
  callQuietly(method: string, params: Record<string, unknown>): void;
}

interface Registration {
  child: BrokerChild;
  localId: number;
}

/** Forwards effects from children to the host. */
export class EffectsBroker {
  readonly #host: HostEffects;
  readonly #log: Logger;
  readonly #byGlobal = new Map<number, Registration>();
  readonly #byChild = new Map<BrokerChild, Map<number, number>>();
  readonly #rates = new WeakMap<BrokerChild, TokenBucket>();
  readonly #containerRate: TokenBucket;
  readonly #now: () => number;
  readonly #pending = new Map<BrokerChild, number>();
  #pendingTotal = 0;
  #nextId = 1;

  readonly #rate: { perSecond: number; burst: number };
  readonly #subcontainers: SubcontainerLedger;

  /** Creates a broker that forwards through `host`, allowing each child `rate` effects. */
  constructor(
    host: HostEffects,
    log: Logger,
    rate: { perSecond: number; burst: number } = EFFECT_RATE,
    subcontainers: SubcontainerLedger = new SubcontainerLedger(),
    now: () => number = () => performance.now(),
  ) {
    this.#now = now;
    this.#containerRate = new TokenBucket(CONTAINER_EFFECT_RATE, now);
    this.#host = host;
    this.#log = log;
    this.#rate = rate;
    this.#subcontainers = subcontainers;
  }

  /** Handles one effect call of `child`. */
  handle(child: BrokerChild, call: EffectParams): Promise<unknown> {
    const { method } = call;
    if (!KNOWN_EFFECTS.has(method)) {
      throw unknownEffect(method);
    }
    if (!effectAllowed(child.profile.effects, method)) {
      throw effectNotAllowed(
        `the ${child.role} profile (effects: ${child.profile.effects}) may not call ${method}`,
      );
    }
    // A procedure child's effects belong to the call running now: one made through the effects
    // object of a call already answered (a timer it left, say) is refused, whether or not the
    // child serves another call meanwhile. Cleanup keeps the id of the call it belongs to.
    const procedure = PROCEDURE_ROLES.has(child.role);
    const callId = call.eventId === undefined ? child.eventId : call.eventId;
    const current = child.inCall && callId === child.eventId;
    if (procedure && !current && !AFTER_ANSWER_EFFECTS.has(method)) {
      this.#log.warn("effect after its call was answered: refused", {
        child: child.name,
        method,
        event: callId ?? undefined,
      });
      throw effectNotAllowed(
        `${method} refused: call ${callId} of the ${child.role} child ` +
          "was answered, its context is closed",
      );
    }
    this.admit(child, method);
    const params: Record<string, unknown> = { ...call.params };
    delete params.eventId;
    const eventId = procedure ? callId : child.eventId;
    if (eventId !== null) params.eventId = eventId;
    // Only the broker puts callback ids in params, and only on effects that take one: a child
    // must not name another child's (or an unregistered) id.
    delete params.callback;
    if (method === "clear-callbacks") return this.#clearOwn(child, params);
    if (CALLBACK_EFFECTS.has(method)) {
      // A sandboxed child registers nothing.
      params.callback = call.callback !== null && child.role !== "sandbox"
        ? this.#register(child, call.callback)
        : null;
    }
    this.#log.debug("effect", { child: child.name, method, event: child.eventId ?? undefined });
    if (method === "subcontainer.create-fs") {
      return this.#forward(child, method, params).then((result) => {
        const orphan = this.#subcontainers.created(child, eventId, result);
        // The child exited while the host made it: nobody can destroy it now but the broker.
        if (orphan) this.#destroyLeft(child, orphan);
        return result;
      });
    }
    if (method === "subcontainer.destroy-fs") {
      this.#checkDestroy(child, params.guid, procedure && !current ? callId : undefined);
      return this.#forward(child, method, params).then((result) => {
        this.#subcontainers.destroyed(child, params.guid as string);
        return result;
      });
    }
    return this.#forward(child, method, params);
  }

  /**
   * A child destroys only a subcontainer it created; after its call was answered, only one that
   * call created (start-sdk's context cleanup).
   */
  #checkDestroy(child: BrokerChild, guid: unknown, answeredCall: string | null | undefined): void {
    const owned = typeof guid === "string" ? this.#subcontainers.find(child, guid) : undefined;
    if (!owned) {
      throw effectNotAllowed(
        `subcontainer.destroy-fs refused: ${JSON.stringify(guid)} is not a subcontainer the ` +
          `${child.name} child created`,
      );
    }
    if (answeredCall !== undefined && owned.eventId !== answeredCall) {
      throw effectNotAllowed(
        `subcontainer.destroy-fs refused: ${guid} was not created by call ${answeredCall}`,
      );
    }
  }

  /**
   * Counts one request of `child` against its rate (effects, `/proc/net` reads and spawns share
   * it); throws 34 when it does not fit.
   * @param child the child asking
   * @param what what it asks for, for the message
   */
  admit(child: BrokerChild, what: string): void {
    let bucket = this.#rates.get(child);
    if (!bucket) this.#rates.set(child, bucket = new TokenBucket(this.#rate, this.#now));
    if (!bucket.take()) {
      throw effectNotAllowed(
        `${what} refused: the ${child.name} child sends more than ` +
          `${this.#rate.perSecond} effects/s (burst ${this.#rate.burst})`,
      );
    }
    if (!this.#containerRate.take()) {
      throw effectNotAllowed(
        `${what} refused: all children together send more than ` +
          `${CONTAINER_EFFECT_RATE.perSecond} effects/s (burst ${CONTAINER_EFFECT_RATE.burst})`,
      );
    }
  }

  /** Sends to the host, counting the params' bytes as pending until the host answers. */
  #forward(child: BrokerChild, method: string, params: Record<string, unknown>): Promise<unknown> {
    const bytes = JSON.stringify(params).length;
    const mine = this.#pending.get(child) ?? 0;
    if (
      mine + bytes > PENDING_EFFECT_BYTES.perChild ||
      this.#pendingTotal + bytes > PENDING_EFFECT_BYTES.container
    ) {
      throw effectNotAllowed(
        `${method} refused: the ${child.name} child has ${mine} bytes of effects waiting for ` +
          `the host (at most ${PENDING_EFFECT_BYTES.perChild} per child, ` +
          `${PENDING_EFFECT_BYTES.container} for all children)`,
      );
    }
    this.#pending.set(child, mine + bytes);
    this.#pendingTotal += bytes;
    return this.#host.call(method, params).finally(() => {
      this.#pendingTotal -= bytes;
      const left = (this.#pending.get(child) ?? bytes) - bytes;
      if (left > 0) this.#pending.set(child, left);
      else this.#pending.delete(child);
    });
  }

  #register(child: BrokerChild, localId: number): number {
    const globalId = this.#nextId++;
    this.#byGlobal.set(globalId, { child, localId });
    let own = this.#byChild.get(child);
    if (!own) this.#byChild.set(child, own = new Map());
    own.set(localId, globalId);
    return globalId;
  }

  /** `clear-callbacks` from package code speaks of its own (child-local) ids: translate them. */
  #clearOwn(child: BrokerChild, params: Record<string, unknown>): Promise<unknown> {
    const own = this.#byChild.get(child) ?? new Map<number, number>();
    const listed = (key: string) =>
      Array.isArray(params[key])
        ? (params[key] as unknown[]).filter((v) => typeof v === "number")
        : undefined;
    const only = listed("only");
    const except = listed("except");
    const locals = only ?? [...own.keys()].filter((id) => !(except ?? []).includes(id));
    this.dropCallbacks(child, locals as number[]);
    return Promise.resolve(null);
  }

  /** The child says these local ids are dead: forget them and tell the host. */
  dropCallbacks(child: BrokerChild, localIds: number[]): void {
    const own = this.#byChild.get(child);
    if (!own) return;
    const globals: number[] = [];
    for (const localId of localIds) {
      const globalId = own.get(localId);
      if (globalId === undefined) continue;
      own.delete(localId);
      this.#byGlobal.delete(globalId);
      globals.push(globalId);
    }
    if (globals.length > 0) this.#host.callQuietly("clear-callbacks", { only: globals });
  }

  /** The child is gone: destroy the subcontainers it left, drop every callback it still had registered. */
  childExited(child: BrokerChild): void {
    for (const left of this.#subcontainers.forget(child)) this.#destroyLeft(child, left);
    const own = this.#byChild.get(child);
    if (!own) return;
    this.dropCallbacks(child, [...own.keys()]);
    this.#byChild.delete(child);
  }

  /** Asks the host to destroy a subcontainer `child` left (it exited without destroying it). */
  #destroyLeft(child: BrokerChild, left: OwnedSubcontainer): void {
    const params: Record<string, unknown> = { guid: left.guid };
    if (left.eventId !== null) params.eventId = left.eventId;
    this.#log.debug("destroying a subcontainer its child left", {
      child: child.name,
      guid: left.guid,
    });
    this.#host.callQuietly("subcontainer.destroy-fs", params);
  }

  /**
   * Tells the host that main stopped without being asked (`set-main-status {status: "stopped"}`,
   * what the SDK's `Daemons.term()` sends when main is stopped the normal way): start-core then
   * clears the service's `started` time and, while the service is wanted running, sends `start`.
   */
  reportMainStopped(): void {
    this.#host.callQuietly("set-main-status", { status: "stopped" });
  }

  /**
   * Takes over the callbacks `child` has registered at the host, before it is retired: each one
   * that fires calls `fired` instead of reaching the child, and `release` drops those still
   * registered (`clear-callbacks` to the host). The child's exit then drops nothing more.
   * @example
   * ```ts
   * const adopted = broker.adopt(host, () => replayInit());
   * await host.kill(); // its callbacks stay registered at the host
   * adopted.release(); // when init is replayed
   * ```
   * @param child the package host about to be retired
   * @param fired called for each of them that fires
   * @returns how many were taken over, and what drops them
   */
  adopt(child: BrokerChild, fired: () => void): { count: number; release(): void } {
    const own = this.#byChild.get(child) ?? new Map<number, number>();
    const relay: BrokerChild = {
      name: `${child.name} (retired)`,
      role: child.role,
      profile: child.profile,
      eventId: child.eventId,
      inCall: false,
      callback: () => fired(),
    };
    this.#byChild.delete(child);
    this.#byChild.set(relay, own);
    for (const [localId, globalId] of own) this.#byGlobal.set(globalId, { child: relay, localId });
    return { count: own.size, release: () => this.childExited(relay) };
  }

  /** Delivers the host's `callback {id, args}`; unknown ids are ignored with a debug line. */
  deliver(globalId: number, args: unknown[]): void {
    const registration = this.#byGlobal.get(globalId);
    if (!registration) {
      this.#log.debug("callback for an unknown id ignored", { callback: globalId });
      return;
    }
    this.#byGlobal.delete(globalId);
    this.#byChild.get(registration.child)?.delete(registration.localId);
    registration.child.callback(registration.localId, args);
  }
}

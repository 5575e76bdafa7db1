/**
 * The effect table is the one declaration of an effect: every entry declares its access, the
 * allowlists follow the declared access (never the name), and the derived views agree with it.
 */

import assert from "node:assert/strict";
import {
  CALLBACK_EFFECTS,
  EFFECT_METHODS,
  type EffectClass,
  EFFECTS,
  type EffectSpec,
  effectSpec,
  isEffectMethod,
  wireName,
} from "../../lib/protocol/effects.ts";
import {
  type EffectAccess,
  effectAllowed,
  isReadOnlyEffect,
  SECRET_EFFECTS,
} from "../../lib/policy/permissions.ts";

const CLASSES: readonly EffectClass[] = ["read", "secret", "write", "scratch", "cleanup"];
const TABLE: readonly EffectSpec[] = EFFECTS;

Deno.test("effect table: every entry declares a known access class and a consistent name", () => {
  assert.equal(TABLE.length, 44);
  for (const entry of TABLE) {
    assert.ok(CLASSES.includes(entry.access), `${entry.method}: access ${entry.access}`);
    assert.equal(wireName(entry.group, entry.name), entry.method, entry.method);
    assert.equal(effectSpec(entry.method), entry);
    assert.ok(isEffectMethod(entry.method));
  }
  assert.equal(new Set(TABLE.map((e) => e.method)).size, TABLE.length, "methods are unique");
  assert.deepEqual([...EFFECT_METHODS], TABLE.map((e) => e.method));
  assert.deepEqual(
    [...CALLBACK_EFFECTS].sort(),
    TABLE.filter((e) => e.callback).map((e) => e.method).sort(),
  );
  assert.equal(effectSpec("get-nothing"), undefined);
  assert.equal(isEffectMethod("get-nothing"), false);
});

Deno.test("effect table: the declared classes are today's", () => {
  const of = (access: EffectClass) =>
    TABLE.filter((e) => e.access === access).map((e) => e.method).sort();
  assert.deepEqual(of("secret"), ["get-ssl-key", "get-system-smtp"]);
  assert.deepEqual(of("cleanup"), ["clear-callbacks", "subcontainer.destroy-fs"]);
  // A subcontainer is the call's own scratch rootfs: a getInput may exec a read command in one.
  assert.deepEqual(of("scratch"), ["subcontainer.create-fs"]);
  assert.deepEqual(of("read"), [
    "check-dependencies",
    "get-container-ip",
    "get-data-version",
    "get-dependencies",
    "get-host-info",
    "get-installed-packages",
    "get-os-ip",
    "get-outbound-gateway",
    "get-service-interface",
    "get-service-manifest",
    "get-service-port-forward",
    "get-ssl-certificate",
    "get-status",
    "list-service-interfaces",
  ]);
  // Named like a read, but makes the host run another package's code.
  assert.equal(effectSpec("action.get-input")?.access, "write");
  assert.deepEqual(TABLE.filter((e) => e.everyProfile).map((e) => e.method), ["clear-callbacks"]);
  assert.deepEqual([...SECRET_EFFECTS].sort(), of("secret"));
});

Deno.test("effectAllowed follows each entry's declared access, for every profile access", () => {
  const admitted: Record<EffectAccess, readonly EffectClass[]> = {
    "all": CLASSES,
    "read-only": ["read", "secret", "scratch", "cleanup"],
    "read-only-no-secrets": ["read", "scratch", "cleanup"],
  };
  for (const [access, classes] of Object.entries(admitted) as [EffectAccess, EffectClass[]][]) {
    for (const entry of TABLE) {
      const expected = entry.everyProfile === true || classes.includes(entry.access);
      assert.equal(effectAllowed(access, entry.method), expected, `${access} ${entry.method}`);
    }
  }
  for (const entry of TABLE) {
    assert.equal(
      isReadOnlyEffect(entry.method),
      entry.access === "read" || entry.access === "secret",
      entry.method,
    );
  }
});

Deno.test("effectAllowed infers nothing from a name: look-alikes outside the table are refused", () => {
  for (const method of ["get-anything", "list-all", "x.get-status", "check-dependencies-x"]) {
    assert.equal(effectAllowed("read-only", method), false, method);
    assert.equal(effectAllowed("read-only-no-secrets", method), false, method);
    assert.equal(isReadOnlyEffect(method), false, method);
  }
  // The policy and broker sources test no name prefix.
  for (const file of ["../../lib/policy/permissions.ts", "../../lib/effects/broker.ts"]) {
    const source = Deno.readTextFileSync(new URL(file, import.meta.url));
    assert.doesNotMatch(source, /startsWith\(\s*["'](get|list|set|clear)-/, file);
    assert.doesNotMatch(source, /lastIndexOf\(\s*["']\.["']\s*\)/, file);
  }
});

/** `transition`: every move of a state machine is checked against its table. */

import assert from "node:assert/strict";
import { IllegalTransition, transition, type TransitionTable } from "../../lib/state_machine.ts";

type Light = "red" | "green" | "yellow";
const LIGHT: TransitionTable<Light> = {
  red: ["green"],
  green: ["yellow"],
  yellow: ["red"],
};

Deno.test("transition returns the new state for a move in the table", () => {
  assert.equal(transition("light", LIGHT, "red", "green"), "green");
  assert.equal(transition("light", LIGHT, "green", "yellow"), "yellow");
  assert.equal(transition("light", LIGHT, "yellow", "red"), "red");
});

Deno.test("transition throws IllegalTransition naming the machine and the move", () => {
  assert.throws(
    () => transition("light", LIGHT, "red", "yellow"),
    (error) =>
      error instanceof IllegalTransition && error.name === "IllegalTransition" &&
      error.message === "light: illegal transition red → yellow",
  );
});

Deno.test("transition refuses staying in a state the table does not list", () => {
  assert.throws(() => transition("light", LIGHT, "green", "green"), IllegalTransition);
});

Deno.test("transition refuses every move out of a final state", () => {
  const table: TransitionTable<"open" | "closed"> = { open: ["closed"], closed: [] };
  assert.throws(() => transition("door", table, "closed", "open"), IllegalTransition);
  assert.throws(() => transition("door", table, "closed", "closed"), IllegalTransition);
});

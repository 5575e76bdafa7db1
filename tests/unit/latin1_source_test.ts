/**
 * `latin1Edits` and `applyLatin1Edits`: a script's characters outside Latin-1 are escaped where
 * the escape means the same thing (comments, quoted strings, regular expressions), the rewritten
 * script evaluates to the same values, and anything unsure (templates, identifiers, a scan that
 * goes wrong, edits made for another text) is refused.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { applyLatin1Edits, type Latin1Edit, latin1Edits } from "../../lib/memory/latin1_source.ts";

const SEED = 20250611;

/**
 * A trailing comment of plain ASCII: `latin1Edits` refuses more than one edit per 64 characters,
 * so the short scripts of these tests carry it to be worth rewriting.
 */
const PAD = `\n// ${"-".repeat(8_000)}\n`;

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0xff) return false;
  }
  return true;
}

/** Runs `body` as a function body and returns its result. */
function run(body: string): unknown {
  return new Function(body)();
}

/** The script rewritten by its own edits, asserting that there were some and they applied. */
function rewrite(source: string): { out: string; edits: Latin1Edit[] } {
  const edits = latin1Edits(source);
  assert.ok(edits, `expected edits for ${JSON.stringify(source.slice(0, 80))}`);
  const out = applyLatin1Edits(source, edits);
  assert.ok(out !== null, `the edits did not apply to ${JSON.stringify(source.slice(0, 80))}`);
  assert.ok(isLatin1(out), `not all Latin-1: ${JSON.stringify(out.slice(0, 80))}`);
  return { out, edits };
}

/** Rewrites `body` (padded) and asserts it returns the same value as before. */
function assertSameResult(body: string): { out: string; edits: Latin1Edit[]; value: unknown } {
  const source = body + PAD;
  const { out, edits } = rewrite(source);
  const value = run(source);
  assert.deepEqual(run(out), value);
  return { out, edits, value };
}

// ---------------------------------------------------------------------------------------------
// Nothing to do
// ---------------------------------------------------------------------------------------------

Deno.test("latin1Edits finds nothing to do in an all-Latin-1 script, accents and 0x80-0xFF included", () => {
  assert.equal(latin1Edits(""), null);
  assert.equal(latin1Edits("const a = 1; // plain ASCII" + PAD), null);
  const latin1 = 'const café = "é ÿ ñ \u0080 \u00a0 ×"; /* ü */ // ß\nreturn /[é-ÿ]/.test(café);' +
    PAD;
  assert.equal(latin1Edits(latin1), null);
});

Deno.test("applyLatin1Edits with no edits gives an all-Latin-1 script back unchanged", () => {
  const source = 'const s = "café";';
  assert.equal(applyLatin1Edits(source, []), source);
});

// ---------------------------------------------------------------------------------------------
// What is escaped
// ---------------------------------------------------------------------------------------------

Deno.test("latin1Edits escapes characters in line comments and the script still runs", () => {
  const body = "// a → b — c\nconst x = 1; // ✓ done\nreturn x + 1;";
  const { out, edits, value } = assertSameResult(body);
  assert.equal(value, 2);
  assert.equal(edits.length, 3);
  assert.ok(out.startsWith("// a \\u2192 b \\u2014 c\nconst x = 1; // \\u2713 done\n"), out);
});

Deno.test("latin1Edits escapes characters in block and JSDoc comments", () => {
  const body = [
    "/**",
    " * Turns a → b — the “usual” way.",
    " * @returns ‘ok’",
    " */",
    'function f() { /* … */ return "ok"; }',
    "return f();",
  ].join("\n");
  const { out, edits, value } = assertSameResult(body);
  assert.equal(value, "ok");
  assert.equal(edits.length, 7);
  assert.match(out, /Turns a \\u2192 b \\u2014 the \\u201cusual\\u201d way\./);
});

Deno.test("latin1Edits escapes characters in single- and double-quoted strings with the same values", () => {
  const body =
    `return ['— single', "→ double", 'it’s "quoted"', "a 'b' — \\"c\\"", { "ключ": 'значение' }];`;
  const { value } = assertSameResult(body);
  assert.deepEqual(value, [
    "— single",
    "→ double",
    'it’s "quoted"',
    "a 'b' — \"c\"",
    { "ключ": "значение" },
  ]);
});

Deno.test("latin1Edits escapes U+2028 and U+2029 inside a string, where they are plain characters", () => {
  const { value } = assertSameResult('return "a\u2028b\u2029c";');
  assert.equal(value, "a\u2028b\u2029c");
});

Deno.test("latin1Edits escapes regular expression literals, in and out of character classes", () => {
  const body = "return [/a—b/, /[—→]+/g, /x[^→]y/, /^[α-ω]+$/i, /(?:…){2}/, /[/—]/, /a\\/—/];";
  const source = body + PAD;
  const { out } = rewrite(source);
  const before = run(source) as RegExp[];
  const after = run(out) as RegExp[];
  const samples = [
    "a—b",
    "ab",
    "—→",
    "→",
    "x→y",
    "xzy",
    "αβγ",
    "ΑΒΓ",
    "……",
    "…",
    "/",
    "a/—",
    "a-b",
  ];
  assert.equal(after.length, before.length);
  for (const [i, regex] of before.entries()) {
    assert.ok(isLatin1(after[i].source), after[i].source);
    assert.equal(after[i].flags, regex.flags);
    for (const sample of samples) {
      regex.lastIndex = 0;
      after[i].lastIndex = 0;
      assert.equal(after[i].test(sample), regex.test(sample), `${regex} on ${sample}`);
    }
  }
});

Deno.test("latin1Edits turns an astral character into a surrogate-pair escape with the same value", () => {
  const { out, edits, value } = assertSameResult('return ["𝑊", "a 𝑊 b 😀"];');
  assert.deepEqual(value, ["𝑊", "a 𝑊 b 😀"]);
  assert.deepEqual(edits.map(([, length]) => length), [2, 2, 2], "one edit per character");
  assert.ok(out.startsWith('return ["\\ud835\\udc4a", "a \\ud835\\udc4a b \\ud83d\\ude00"];'), out);
});

Deno.test("latin1Edits keeps an astral character in a regex one character, with and without the u flag", () => {
  const { value } = assertSameResult(
    'return [/^[𝑊]$/u.test("𝑊"), /^[𝑊]$/.test("𝑊"), /^𝑊+$/u.test("𝑊𝑊"), /^.$/u.test("𝑊")];',
  );
  assert.deepEqual(value, [true, false, true, true]);
});

Deno.test("latin1Edits rewrites a backslash and a non-Latin-1 character in a string as one escape", () => {
  const { out, edits, value } = assertSameResult('return ["a\\—b", \'\\→\', "\\𝑊"];');
  assert.deepEqual(value, ["a—b", "→", "𝑊"]);
  assert.deepEqual(edits.map(([, length]) => length), [2, 2, 3]);
  assert.ok(out.startsWith('return ["a\\u2014b", \'\\u2192\', "\\ud835\\udc4a"];'), out);
});

Deno.test("latin1Edits leaves an escaped backslash alone and escapes the character after it", () => {
  const { value } = assertSameResult('return "a\\\\—";');
  assert.equal(value, "a\\—");
});

Deno.test("latin1Edits escapes a string inside a template substitution (code, not template text)", () => {
  const { value } = assertSameResult('return [`a${ {b: "—"}.b }`, `x${"→"}y${`z`}`];');
  assert.deepEqual(value, ["a—", "x→yz"]);
});

Deno.test("latin1Edits' escapes in a substitution leave a tagged template's raw strings alone", () => {
  const { value } = assertSameResult('return String.raw`x${"—"}\\u0041`;');
  assert.equal(value, "x—\\u0041");
});

Deno.test("latin1Edits treats a / after an operand as a division: the string after it is escaped", () => {
  const { value } = assertSameResult(
    'const a = 8, b = 2, c = [4]; return [a / b / "—", (a) / b / 2, c[0] / b / 1, "—"];',
  );
  assert.deepEqual(value, [NaN, 2, 2, "—"]);
});

Deno.test("latin1Edits treats a / after return as a regular expression and escapes it", () => {
  const { out, value } = assertSameResult(
    'function f(x) { return /—/.test(x); } return [f("a—b"), f("a-b"), typeof /→/];',
  );
  assert.deepEqual(value, [true, false, "object"]);
  assert.ok(out.startsWith("function f(x) { return /\\u2014/.test(x); }"), out);
});

Deno.test("latin1Edits skips a hashbang line", () => {
  const source = '#!/usr/bin/env deno\nconst s = "—";' + PAD;
  const edits = latin1Edits(source);
  assert.deepEqual(edits, [[source.indexOf("—"), 1]]);
});

// ---------------------------------------------------------------------------------------------
// What is refused
// ---------------------------------------------------------------------------------------------

Deno.test("latin1Edits refuses a non-Latin-1 character in template text", () => {
  assert.equal(latin1Edits("return `a — b`;" + PAD), null);
  assert.equal(latin1Edits('return `${"ok"} →`;' + PAD), null, "after a substitution");
  assert.equal(latin1Edits("return `${`—`}`;" + PAD), null, "in a template nested in one");
  assert.equal(latin1Edits('const s = "—"; return `→`;' + PAD), null, "even with other edits");
});

Deno.test("latin1Edits refuses a non-Latin-1 identifier", () => {
  assert.equal(latin1Edits("const λ = 1; return λ;" + PAD), null);
  assert.equal(latin1Edits('const s = "—"; const λ = 1;' + PAD), null, "even with other edits");
});

Deno.test("latin1Edits refuses U+2028/U+2029 in a comment (a line terminator there)", () => {
  assert.equal(latin1Edits("// a \u2028 b\nreturn 1;" + PAD), null);
  assert.equal(latin1Edits("/* a \u2029 b */ return 1;" + PAD), null);
  assert.equal(latin1Edits('// \u2028 "—"' + PAD), null);
});

Deno.test("latin1Edits refuses a script whose string, comment or regex does not end", () => {
  assert.equal(latin1Edits(PAD + 'return "—'), null, "a string to the end");
  assert.equal(latin1Edits(PAD + "return '— \n';"), null, "a string cut by a newline");
  assert.equal(latin1Edits(PAD + "/* — "), null, "a block comment to the end");
  assert.equal(latin1Edits(PAD + "return /—"), null, "a regex to the end");
  assert.equal(latin1Edits(PAD + "return /—\n/;"), null, "a regex cut by a newline");
  assert.equal(latin1Edits(PAD + "return `—"), null, "a template to the end");
});

Deno.test("latin1Edits refuses a script whose braces do not balance", () => {
  assert.equal(latin1Edits('const s = "—"; }' + PAD), null);
  assert.equal(latin1Edits('function f() { const s = "—";' + PAD), null);
});

Deno.test("latin1Edits refuses a backslash and a non-Latin-1 character in a regex", () => {
  assert.equal(latin1Edits("return /a\\—b/.test(s);" + PAD), null);
});

Deno.test("latin1Edits refuses a rewrite that would not pay (more than one edit per 64 characters)", () => {
  assert.equal(latin1Edits('a = "—";'), null);
  const body = 'a = "—";';
  const justEnough = body + " ".repeat(64 - body.length);
  assert.deepEqual(latin1Edits(justEnough), [[5, 1]]);
  assert.equal(latin1Edits(justEnough.slice(0, -1)), null);
});

// ---------------------------------------------------------------------------------------------
// applyLatin1Edits refuses edits that do not fit
// ---------------------------------------------------------------------------------------------

const SOURCE = 'const a = "x — y"; // → ok' + PAD;
const EDITS = latin1Edits(SOURCE)!;

Deno.test("applyLatin1Edits applies edits made for the same text", () => {
  assert.equal(EDITS.length, 2);
  assert.equal(applyLatin1Edits(SOURCE, EDITS), 'const a = "x \\u2014 y"; // \\u2192 ok' + PAD);
});

Deno.test("applyLatin1Edits refuses edits made for a different text", () => {
  assert.equal(applyLatin1Edits(" " + SOURCE, EDITS), null, "shifted by one");
  assert.equal(applyLatin1Edits(SOURCE.replace("—", "-"), EDITS), null, "one character fewer");
  assert.equal(applyLatin1Edits(SOURCE.replace("ok", "ok —"), EDITS), null, "one more");
  assert.equal(applyLatin1Edits("x", EDITS), null, "a shorter text");
});

Deno.test("applyLatin1Edits refuses an edit pointing at a Latin-1 character", () => {
  const dash = SOURCE.indexOf("—");
  assert.equal(applyLatin1Edits(SOURCE, [[dash - 1, 1], EDITS[1]]), null, "the space before");
  assert.equal(applyLatin1Edits(SOURCE, [[dash - 1, 2], EDITS[1]]), null, "space + character");
  assert.equal(applyLatin1Edits(SOURCE, [[dash, 2], EDITS[1]]), null, "character + space");
  assert.equal(applyLatin1Edits(SOURCE, [[dash, 0], EDITS[1]]), null, "nothing");
  const slashed = 'const a = "\\x41 —";' + PAD;
  assert.equal(applyLatin1Edits(slashed, [[slashed.indexOf("\\"), 2]]), null, "backslash + x");
});

Deno.test("applyLatin1Edits refuses edits that miss one of the non-Latin-1 characters", () => {
  assert.equal(applyLatin1Edits(SOURCE, [EDITS[0]]), null);
  assert.equal(applyLatin1Edits(SOURCE, [EDITS[1]]), null);
  assert.equal(applyLatin1Edits(SOURCE, []), null);
});

Deno.test("applyLatin1Edits refuses half of an astral character", () => {
  const source = 'const a = "𝑊";' + PAD;
  const at = source.indexOf("𝑊");
  assert.deepEqual(latin1Edits(source), [[at, 2]]);
  assert.equal(applyLatin1Edits(source, [[at, 1]]), null);
  assert.equal(applyLatin1Edits(source, [[at + 1, 1]]), null);
});

Deno.test("applyLatin1Edits refuses out-of-order, repeated or overlapping edits", () => {
  assert.equal(applyLatin1Edits(SOURCE, [EDITS[1], EDITS[0]]), null, "out of order");
  assert.equal(applyLatin1Edits(SOURCE, [EDITS[0], EDITS[0], EDITS[1]]), null, "repeated");
  const source = 'const a = "\\—";' + PAD;
  const at = source.indexOf("\\");
  assert.deepEqual(latin1Edits(source), [[at, 2]]);
  assert.equal(applyLatin1Edits(source, [[at, 2], [at + 1, 1]]), null, "overlapping");
});

Deno.test("applyLatin1Edits refuses edits that are not whole numbers", () => {
  const [at, length] = EDITS[0];
  assert.equal(applyLatin1Edits(SOURCE, [[at + 0.5, length], EDITS[1]]), null);
  assert.equal(applyLatin1Edits(SOURCE, [[NaN, length], EDITS[1]]), null);
  assert.equal(applyLatin1Edits(SOURCE, [[-1, length], EDITS[1]]), null);
  assert.equal(applyLatin1Edits(SOURCE, [[at, Infinity], EDITS[1]]), null);
});

// ---------------------------------------------------------------------------------------------
// Generated strings
// ---------------------------------------------------------------------------------------------

/** Characters of every kind: Latin-1 (controls, quotes, backslash), BMP, lone surrogates, astral. */
const character = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code)),
  fc.constantFrom('"', "'", "\\", "\n", "\r", "`", "/", "*", "$", "{", "}", "\u2028", "\u2029"),
  fc.integer({ min: 0x100, max: 0xffff }).map((code) => String.fromCharCode(code)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)),
);

Deno.test("generated strings in a double-quoted literal are rewritten to all Latin-1 with the same value (fast-check, fixed seed)", () => {
  let rewritten = 0;
  fc.assert(
    fc.property(fc.array(character, { maxLength: 30 }), (chars) => {
      const text = chars.join("");
      const literal = JSON.stringify(text); // escapes `"`, `\`, controls and lone surrogates
      const source = `return ${literal};${PAD}`;
      const edits = latin1Edits(source);
      // 30 characters of up to 2 code units: PAD keeps the edits worth it, so only a literal
      // without a raw non-Latin-1 character has none.
      assert.equal(edits === null, isLatin1(literal), literal);
      if (edits === null) return;
      const out = applyLatin1Edits(source, edits);
      assert.ok(out !== null, literal);
      assert.ok(isLatin1(out), out);
      assert.equal(run(out), text);
      rewritten++;
    }),
    { seed: SEED, numRuns: 500 },
  );
  assert.ok(rewritten > 250, `only ${rewritten} of 500 had something to rewrite`);
});

Deno.test("generated strings in single quotes, a comment and a regex class are rewritten with the same meaning (fast-check, fixed seed)", () => {
  const nonLatin1 = fc.oneof(
    fc.integer({ min: 0x100, max: 0xd7ff }).map((code) => String.fromCharCode(code)),
    fc.integer({ min: 0xe000, max: 0xffff }).map((code) => String.fromCharCode(code)),
    fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)),
  );
  const plain = fc.constantFrom("a", "b", " ", "é", "ÿ", "_");
  const text = fc.array(fc.oneof(plain, nonLatin1), { minLength: 1, maxLength: 20 })
    .map((chars) => chars.join(""));
  fc.assert(
    fc.property(text, nonLatin1, (chars, probe) => {
      // No quote, backslash, newline, `-` or `]` in `chars`: it stands as is in all three places.
      const source = `/* ${chars} */ const s = '${chars}'; // ${chars}\n` +
        `return [s, [...s].map((c) => /^[${chars}]$/u.test(c)), /^[${chars}]$/u.test(${
          JSON.stringify(probe)
        })];${PAD}`;
      const edits = latin1Edits(source);
      assert.ok(edits, chars);
      const out = applyLatin1Edits(source, edits);
      assert.ok(out !== null && isLatin1(out), chars);
      assert.deepEqual(run(out), run(source));
    }),
    { seed: SEED + 1, numRuns: 300 },
  );
});

// ---------------------------------------------------------------------------------------------
// Where a / starts a regular expression: guesses that would reach template text
// ---------------------------------------------------------------------------------------------

Deno.test("latin1Edits never rewrites template text after a regex or division it could misread", () => {
  // Each would, read the other way, take template text for a quoted string.
  for (
    const body of [
      "let s = 'x'; if (s) /'/.test(s); return String.raw`—`; // '",
      "let a = 1; a++ / '/'; return String.raw`—`; // '",
      "const o = {of: 4}; o.of / 2; let s = '/'; return String.raw`—`; // '",
    ]
  ) {
    assert.equal(latin1Edits(body + PAD), null, body);
  }
});

Deno.test("latin1Edits tells a division after ) or an object literal's } from a regex after if (…) or a block", () => {
  assert.equal(assertSameResult("let a = (1) / 2; return 'a—' + a;").value, "a—0.5");
  assert.equal(assertSameResult("const x = {a: 1} / 2; return '—' + x;").value, "—NaN");
  assert.equal(assertSameResult("let s = 'x'; if (s) /'—'/.test(s); return '→';").value, "→");
  assert.equal(assertSameResult("function f() {} /'—'/.test('x'); return 'é—';").value, "é—");
});

Deno.test("latin1Edits refuses a non-Latin-1 character after a backslash in template text or in a hashbang", () => {
  assert.equal(latin1Edits('t = `\\—`; s = "—";' + PAD), null);
  assert.equal(latin1Edits("#!/usr/bin/env —\nx = '—';" + PAD), null);
});

Deno.test("applyLatin1Edits refuses a backslash edit where that backslash is itself escaped", () => {
  // Made for `x = "a\—";` (index 6 is a backslash starting an escape); here index 6 is escaped.
  assert.equal(applyLatin1Edits('x = "\\\\—";', [[6, 2]]), null);
  assert.equal(applyLatin1Edits('x = "a\\—";', [[6, 2]]), 'x = "a\\u2014";');
});

Deno.test("latin1Edits leaves no record of the scanned text in RegExp's last match (it would keep a whole bundle alive)", () => {
  const legacy = RegExp as unknown as { input: string };
  for (const text of ["// a — b\nx = 1;", "x = 1; // plain"]) {
    const source = text.repeat(1000);
    latin1Edits(source);
    assert.notEqual(legacy.input, source);
  }
});

Deno.test("applyLatin1Edits leaves no record of the two-byte original in RegExp's last match", () => {
  const legacy = RegExp as unknown as { input: string };
  const source = "// a — b\nx = 1;".repeat(100) + PAD;
  const edits = latin1Edits(source);
  assert.ok(edits);
  assert.ok(applyLatin1Edits(source, edits));
  assert.notEqual(legacy.input, source);
});

Deno.test("the rewritten script is stored one byte per character (measured in a fresh Deno's heap)", async () => {
  // V8 shows a string's storage only in its heap's size: a child of its own measures, after full
  // collections, what the rewritten 2 million characters keep alive.
  const module = new URL("../../lib/memory/latin1_source.ts", import.meta.url).href;
  const script = `
    import { applyLatin1Edits, latin1Edits } from ${JSON.stringify(module)};
    const collect = () => { for (let i = 0; i < 3; i++) gc({ type: "major", execution: "sync" }); };
    function rewritten() {
      const source = ("// a — b\\nconst x = 'é';" + "-".repeat(4000) + "\\n").repeat(500);
      return applyLatin1Edits(source, latin1Edits(source));
    }
    collect();
    const before = Deno.memoryUsage().heapUsed;
    const kept = rewritten();
    collect();
    console.log(JSON.stringify({ chars: kept.length, bytes: Deno.memoryUsage().heapUsed - before }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  const { chars, bytes } = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.ok(chars > 2_000_000, `${chars} characters`);
  // Two bytes per character would be over 4 MB.
  assert.ok(bytes < chars * 1.25, `${bytes} bytes kept for ${chars} characters`);
});

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { before, describe, test } from '../../../../testing/nodeTest';
import { createParser, type CParser } from '../parse/parser';
import { indexSource } from '../index/indexer';
import { codeIdentifiers } from './lib/codeText';
import { lineMacroKinds, lineUsesOf, logicalLines, mayTakeKinds, mayUseLine, textDefines } from './line-macro';
import type { FileIndex } from '../model';
import { splitLines } from '../util/text';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'line-macro';

test('a line shift above a local __LINE__ macro user is one warning per file, on the hunk that shifts', async () => {
  const r = await runCase(caseDir(rule, 'local-error-macro-below-new-variable'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.line, 15); // 0-based: the added "static unsigned int demo_max_errors = 16;"
  assert.ok(f.patchLine !== undefined && r.patch.split('\n')[f.patchLine].startsWith('+static unsigned int demo_max_errors'));
  assert.match(f.message, /\+2 lines/);
  assert.match(f.message, /demo_fail\(\) passes the line number as an argument \(demo_error\)/);
  assert.match(f.message, /#line/);
  // Shifted functions are related locations; the changed one and the one without __LINE__ are not.
  assert.deepEqual(
    f.related.map((x) => x.message.split('(')[0]),
    ['demo_fail', 'demo_count_error'],
  );
  assert.equal(f.related[0].line, 19);
  assert.match(f.related[1].message, /bug table only/);
});

test('without the tree, the __LINE__ user visible in the hunk context is still reported', async () => {
  const r = await runCase(caseDir(rule, 'local-error-macro-below-new-variable'), { withoutTree: true });
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.line, 15);
  assert.match(f.message, /hunks only/);
  assert.deepEqual(
    f.related.map((x) => x.line),
    [19],
  );
});

test('a shift above WARN_ON/BUG_ON users only is info (the line lives in the bug table)', async () => {
  const r = await runCase(caseDir(rule, 'bug-table-users-below-longer-function'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'info');
  assert.equal(f.line, 13);
  assert.match(f.message, /__bug_table/);
  assert.deepEqual(
    f.related.map((x) => x.message.split('(')[0]),
    ['demo_queue_pop', 'demo_queue_free'],
  );
});

test('a line delta in a file without __LINE__ users below is not reported', async () => {
  const r = await runCase(caseDir(rule, 'no-line-users-below-longer-function'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a change that keeps the line count constant is not reported', async () => {
  const r = await runCase(caseDir(rule, 'same-line-count-above-bug-table-users'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('might_sleep() passes __LINE__ only with CONFIG_DEBUG_ATOMIC_SLEEP', async () => {
  const dir = caseDir(rule, 'might-sleep-below-new-function');
  const unknown = ofRule(await runCase(dir), rule);
  assert.equal(unknown.length, 1);
  assert.equal(unknown[0].severity, 'warning');
  assert.match(unknown[0].message, /might_sleep: kpatch-build recognises that call pattern/);
  const config = path.join(dir, 'config-without-debug-atomic-sleep');
  assert.deepEqual(ofRule(await runCase(dir, { config }), rule), []);
});

test('kpatch warn-detect shape: one blank line at the top of a file with WARN_ON users', async () => {
  const r = await runCase(caseDir('no-functional-change', 'blank-line-at-top'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'info');
  assert.equal(f[0].line, 1);
  assert.match(f[0].message, /\+1 line\b/);
});

test('a #line directive after the inserted lines restores __LINE__: not reported', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'line-directive-restores-numbering'), { withoutTree });
    assert.deepEqual(ofRule(r, rule), []);
  }
});

test('xfs_force_shutdown() from the subsystem header passes __LINE__ as an argument: warning, not info', async () => {
  const r = await runCase(caseDir(rule, 'header-helper-passes-line'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.line, 17); // 0-based: the first added line in xfs_demo_buf_verify()
  assert.match(f.message, /\+2 lines/);
  assert.match(f.message, /xfs_demo_buf_submit\(\) passes the line number as an argument \(xfs_force_shutdown\)/);
  assert.deepEqual(
    f.related.map((x) => x.message.split('(')[0]),
    ['xfs_demo_buf_submit', 'xfs_demo_buf_ioend'],
  );
  assert.match(f.related[1].message, /bug table only/);
});

// localHeaders indexes only the headers whose macros can take a kind, chosen from their
// text. The claim under it: each macro the indexer finds is one of textDefines' defines
// (same name, body words among its words), so the skipped headers cannot change the kinds.

const DEFINE_PIECES = [
  '#define ',
  '#define',
  '# define ',
  '#\tdefine\t',
  '#defines',
  '#define(',
  '\n',
  '\r\n',
  ' ',
  '\\\n',
  '\\',
  '/*',
  '*/',
  '//',
  '"',
  "'",
  '(',
  ')',
  ',',
  ';',
  '{',
  '}',
  '$',
  '0x1f',
  'A',
  'B',
  'b2',
  'WARN_ON',
  'might_sleep',
  '__LINE__',
  '#if 0\n',
  '#endif\n',
  'int f(void)',
];

describe('text defines against the indexer', () => {
  let parser: CParser;
  before(async () => {
    parser = await createParser('wasm');
  });

  /** Every indexed macro is a text define with the same name whose words hold the body's identifiers. */
  function covered(text: string): void {
    const defs = textDefines(text);
    if (!defs) return;
    for (const m of indexSource(parser, 'h.h', text).macros) {
      const ids = codeIdentifiers(m.body);
      assert.ok(
        defs.some((d) => d.name === m.name && ids.every((w) => d.words.includes(w))),
        `${JSON.stringify(text)}: macro ${m.name} = ${JSON.stringify(m.body)} not among ${JSON.stringify(defs)}`,
      );
    }
  }

  test('property: on C-like text made of the pieces that matter', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...DEFINE_PIECES), { maxLength: 30 }), (parts) => covered(parts.join(''))),
      { seed: 15, numRuns: 4000 },
    );
  });

  test('hand cases: comments, continuations, names glued to `define`', () => {
    const text = [
      '#define A(x) WARN_ON(x) /* c */',
      '#define B /* a comment\n over two lines */ A(1)',
      '#define C \\\n  might_sleep(); \\\n  B',
      '/* #defines are fine in prose */',
      '#define D "WARN_ON" E',
      '#  define F 0x1fUL',
    ].join('\n');
    covered(text);
    const defs = textDefines(text)!;
    assert.deepEqual(
      defs.map((d) => d.name),
      ['A', 'B', 'C', 's', 'D', 'F'],
    );
    assert.deepEqual(defs[1].words, ['a', 'comment', 'over', 'two', 'lines', 'A']);
    assert.deepEqual(defs[2].words, ['might_sleep', 'B']);
    // The name on the next line, or none: not read from the text.
    assert.equal(textDefines('#define \\\n X 1\n'), null);
    assert.equal(textDefines('#define (x)\n'), null);
    assert.equal(textDefines('#define X$y 1\n'), null);
  });

  test('the kinds the rule looks up are the same with only the headers mayTakeKinds keeps', () => {
    const headers = new Map<string, string | null>([
      ['a.h', '#define my_err(x) __my_err(x, __LINE__)\n#define other(x) (x)\n'],
      ['b.h', '#define my_fail(x) my_err(x)\n'],
      ['c.h', '#define quiet(x) do { } while (0)\n#define also_quiet other\n'],
      // Read as text, a define in a comment counts too; but the file never names `loud`.
      ['p.h', '/* #define loud WARN_ON */\n'],
      ['d.h', '#define chain(x) my_fail(x)\n#define bug(x) BUG_ON(x)\n'],
      ['e.h', '#define \\\n  odd(x) WARN(x)\n#define plain 1\n'],
      // Could take a kind, but nothing the file calls leads to it.
      ['q.h', '#define unused_err(x) WARN_ON(x)\n'],
      ['gone.h', null],
    ]);
    const index = (p: string) => (headers.get(p) ? indexSource(parser, p, headers.get(p)!) : null);
    const text = '#define local(x) chain(x)\nint f(int x)\n{\n\tlocal(x);\n\tbug(x);\n\treturn quiet(x);\n}\n';
    const own = indexSource(parser, 'f.c', text);
    const seed = [...lineMacroKinds([]).keys()];
    const known = own.macros.map((m) => ({ name: m.name, words: codeIdentifiers(m.body) }));
    const needed = mayTakeKinds(seed, known, headers, index, [text]);
    assert.deepEqual([...needed].sort(), ['a.h', 'b.h', 'd.h', 'e.h']);
    const all = lineMacroKinds([own, ...[...headers.keys()].map(index)]);
    const kept = lineMacroKinds([own, ...[...headers.keys()].filter((p) => needed.has(p)).map(index)]);
    for (const w of new Set(codeIdentifiers(text))) assert.equal(kept.get(w), all.get(w), w);
    assert.equal(all.get('local'), 'argument');
    assert.equal(all.get('bug'), 'bugtable');
    // What the leaner set leaves out is only what the file never asks about.
    assert.equal(all.get('unused_err'), 'bugtable');
    assert.equal(kept.get('unused_err'), undefined);
  });

  test('property: the looked-up kinds are the same with only the kept headers', () => {
    const NAMES = ['ma', 'mb', 'mc', 'md', 'WARN_ON', 'might_sleep', '__LINE__', 'x', 'ASSERT'];
    const define = fc
      .tuple(
        fc.constantFrom('ma', 'mb', 'mc', 'md', 'ASSERT'),
        fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }),
        fc.nat(5),
      )
      .map(([n, body, c]) => (c === 0 ? `/* #define ${n} ${body.join(' ')} */` : `#define ${n}(x) ${body.join('(x) + ')}(x)`));
    let dropped = 0;
    fc.assert(
      fc.property(
        fc.array(fc.array(define, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.constantFrom('ma', 'mb', 'f'), { maxLength: 2 }),
        (hs, calls) => {
          const headers = new Map<string, string | null>(hs.map((ds, i) => [`h${i}.h`, ds.join('\n') + '\n']));
          const index = (p: string) => indexSource(parser, p, headers.get(p)!);
          const text = `int g(int x)\n{\n${calls.map((c) => `\t${c}(x);\n`).join('')}\treturn 0;\n}\n`;
          const own = indexSource(parser, 'f.c', text);
          const seed = [...lineMacroKinds([]).keys()];
          const needed = mayTakeKinds(seed, [], headers, index, [text]);
          dropped += headers.size - needed.size;
          const all = lineMacroKinds([own, ...[...headers.keys()].map(index)]);
          const kept = lineMacroKinds([own, ...[...headers.keys()].filter((p) => needed.has(p)).map(index)]);
          for (const w of new Set(codeIdentifiers(text))) assert.equal(kept.get(w), all.get(w), `${w} in ${JSON.stringify([...headers])}`);
        },
      ),
      { seed: 15, numRuns: 600 },
    );
    assert.ok(dropped > 100, `${dropped} headers left out`);
  });

  const BODY_PIECES = [
    'WARN_ON(x);',
    'my_err(',
    '__LINE__',
    '"WARN_ON("',
    '/* BUG() */',
    '// might_sleep()\n',
    'x',
    '0x1f',
    ' ',
    '\n',
    ';',
    '(',
    ')',
    "'",
    '{',
    '}',
  ];

  /** A function the line-use check passes over has no line use. */
  function skipsOnlyEmpty(text: string, kinds: ReturnType<typeof lineMacroKinds>): number {
    const idx = indexSource(parser, 'f.c', text);
    const mayUse = mayUseLine(idx, kinds);
    let skipped = 0;
    for (const fn of idx.functions) {
      if (mayUse(fn)) continue;
      skipped++;
      assert.deepEqual(lineUsesOf(fn, kinds), [], `${JSON.stringify(text)}: ${fn.name}`);
    }
    return skipped;
  }

  test('property: mayUseLine passes over only functions without line uses', () => {
    const kinds = lineMacroKinds([indexSource(parser, 'h.h', '#define my_err(x) f(x, __LINE__)\n')]);
    let skipped = 0;
    let used = 0;
    fc.assert(
      fc.property(fc.array(fc.array(fc.constantFrom(...BODY_PIECES), { maxLength: 12 }), { maxLength: 4 }), (bodies) => {
        const text = bodies.map((b, i) => `int f${i}(int x)\n{\n${b.join('')}\n}\n`).join('\n');
        skipped += skipsOnlyEmpty(text, kinds);
        used += indexSource(parser, 'f.c', text).functions.filter((f) => lineUsesOf(f, kinds).length).length;
      }),
      { seed: 15, numRuns: 1500 },
    );
    // Both sides were exercised.
    assert.ok(skipped > 100 && used > 100, `${skipped} skipped, ${used} with uses`);
  });

  const tree = path.join(os.homedir(), '.cache/kernel-livepatch/linux-6.1');
  const dirs = ['arch/x86/kvm', 'fs/xfs', 'fs/ext4', 'net/core', 'kernel/sched', 'include/linux'];
  test(
    'on the 6.1 tree: the headers of a few subsystems (first 60 of each directory)',
    { skip: fs.existsSync(path.join(tree, 'Makefile')) ? false : `no kernel tree at ${tree}` },
    () => {
      let n = 0;
      for (const d of dirs) {
        const names = fs
          .readdirSync(path.join(tree, d))
          .filter((f) => f.endsWith('.h'))
          .sort()
          .slice(0, 60);
        for (const f of names) {
          covered(fs.readFileSync(path.join(tree, d, f), 'utf8'));
          n++;
        }
      }
      assert.ok(n > 100, `${n} headers`);
    },
  );

  test(
    'on the 6.1 tree: mayUseLine on kvm/x86.c passes over only functions without line uses',
    { skip: fs.existsSync(path.join(tree, 'Makefile')) ? false : `no kernel tree at ${tree}` },
    () => {
      const skipped = skipsOnlyEmpty(fs.readFileSync(path.join(tree, 'arch/x86/kvm/x86.c'), 'utf8'), lineMacroKinds([]));
      assert.ok(skipped > 200, `${skipped} skipped`);
    },
  );
});

test('logicalLines gives each line the __LINE__ a line-by-line reading of the #line directives gives', () => {
  // The definition: every line read, a directive sets the number of the line after it.
  const byLines = (text: string) => {
    const lines = splitLines(text);
    const map: number[] = [];
    let next = 1;
    for (const l of lines) {
      map.push(next);
      const m = /^\s*#\s*(?:line\s+)?(\d+)(?:\s+"[^"]*")?\s*$/.exec(l);
      next = m ? Number(m[1]) : next + 1;
    }
    return map;
  };
  const piece = fc.constantFrom(
    '#line 100',
    '# 7 "drivers/x.c"',
    '  #  line 42  ',
    '#define X 1',
    '#1',
    'a = b #3',
    '#',
    '5',
    '\tWARN_ON(x);',
    '',
    '/* #line 9 */',
    '#line 12 "a.c" junk',
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), fc.constantFrom('\n', '\r\n'), fc.boolean(), (pieces, nl, finalNl) => {
      const text = pieces.join(nl) + (finalNl ? nl : '');
      const want = byLines(text);
      const got = logicalLines({ text } as FileIndex);
      for (let l = -1; l <= want.length; l++) {
        assert.equal(got(l), l >= 0 && l < want.length ? want[l] : l + 1, `line ${l} of ${JSON.stringify(text)}`);
      }
    }),
    { numRuns: 3000 },
  );
});

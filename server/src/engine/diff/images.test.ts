import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createTwoFilesPatch } from 'diff';
import { buildImages } from './images';
import { readPatch } from './readPatch';

function patchOf(before: string, after: string, context: number): string {
  return (
    'diff --git a/f.c b/f.c\n' +
    createTwoFilesPatch('a/f.c', 'b/f.c', before, after, '', '', { context })
      .replace(/^Index: .*\n=+\n/, '')
      .replace(/^(---|\+\+\+) (.*?)\t$/gm, '$1 $2')
  );
}

const LINE = fc.constantFrom('', 'a', 'b', '\tx = 1;', '}', '{', 'int f(void)');
// Not empty: a patch from an empty file reads as a new file (a case of its own).
const lines = fc.array(LINE, { minLength: 1, maxLength: 40 });

test('property: buildImages rebuilds the post-image and maps every added line to its patch line', () => {
  let checked = 0;
  fc.assert(
    fc.property(
      lines,
      fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.array(LINE, { maxLength: 3 })), { minLength: 1, maxLength: 4 }),
      // Context 0 is `git diff -U0`: a hunk that only adds names the line it follows.
      fc.constantFrom(0, 1, 3),
      (preLines, edits, context) => {
        const pre = preLines.join('\n') + '\n';
        // Two patches against the same pre-image (the editor re-checks one base text).
        for (const upto of [1, edits.length]) {
          const post = edits.slice(0, upto).reduce((ls, [at, del, ins]) => {
            const i = at % (ls.length + 1);
            return [...ls.slice(0, i), ...ins, ...ls.slice(i + del)];
          }, preLines);
          const postText = post.length ? post.join('\n') + '\n' : '';
          if (postText === pre || postText === '') continue;
          const patch = readPatch(patchOf(pre, postText, context), 'p');
          const img = buildImages(patch.files[0], pre);
          assert.equal(img.post, postText);
          assert.equal(img.pre, pre);
          const patchLines = patch.text.split('\n');
          for (const l of img.maps.added) assert.equal('+' + post[l], patchLines[img.maps.postToPatch.get(l)!]);
          for (const l of img.maps.removed) assert.equal('-' + preLines[l], patchLines[img.maps.preToPatch.get(l)!]);
          for (const pl of img.maps.placements) assert.equal(pl.fuzz, 0);
          checked++;
        }
      },
    ),
    { seed: 15, numRuns: 1500 },
  );
  assert.ok(checked > 1500, `${checked} patches checked`);
});

test('buildImages keeps a pre-image without a final newline as it is, and alternating pre-images do not mix', () => {
  const a = 'one\ntwo\nthree\nfour';
  const b = 'uno\ndos\ntres\ncuatro\n';
  for (let i = 0; i < 2; i++) {
    const pa = readPatch(patchOf(a, a.replace('two', 'TWO'), 1), 'a');
    assert.equal(buildImages(pa.files[0], a).post, 'one\nTWO\nthree\nfour');
    const pb = readPatch(patchOf(b, b.replace('dos', 'DOS'), 1), 'b');
    assert.equal(buildImages(pb.files[0], b).post, 'uno\nDOS\ntres\ncuatro\n');
  }
});

test('git diff -U0: lines added at the top, in the middle and at the end land where git put them', () => {
  const pre = 'int a;\nint b;\nint c;\n';
  const post = 'int top;\nint a;\nint b;\nint mid;\nint c;\nint end;\n';
  const patch = [
    'diff --git a/f.c b/f.c',
    '--- a/f.c',
    '+++ b/f.c',
    '@@ -0,0 +1 @@',
    '+int top;',
    '@@ -2,0 +4 @@ int a;',
    '+int mid;',
    '@@ -3,0 +6 @@ int b;',
    '+int end;',
    '',
  ].join('\n');
  const images = buildImages(readPatch(patch, 'u0.patch').files[0], pre);
  assert.equal(images.post, post);
  assert.equal(images.pre, pre);
});

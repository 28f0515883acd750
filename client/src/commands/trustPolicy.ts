// What Check Patch and Generate Livepatch Module may do in an untrusted
// workspace. Neither runs anything on a VM; what limits them is that the
// language server runs no git there (see server/src/engine/tree/git.ts), so the
// working tree's changes against livepatch.baseRef are unknown. No VS Code
// import: the decision is tested on its own.

export type PatchSource = 'patch-document' | 'working-tree';

export type TrustVerdict = { run: true; note?: string } | { run: false; reason: string };

export function trustVerdict(command: 'checkPatch' | 'generateModule', source: PatchSource, trusted: boolean): TrustVerdict {
  if (trusted || source === 'patch-document') {
    // An open .patch is analysed as text against the tree (the tree walker stands in for git grep);
    // generating writes source files only where the user picks.
    return { run: true };
  }
  if (command === 'checkPatch') {
    // The server checks the unsaved buffers against their saved copies and says so.
    return {
      run: true,
      note: 'Restricted Mode: only unsaved changes in open files were checked, against their saved copies (git is not run in an untrusted workspace).',
    };
  }
  // A module built from unsaved edits alone would silently leave out the saved changes.
  return {
    run: false,
    reason:
      'generating a module from the working tree needs git, which is not run in an untrusted workspace. Open a .patch file, or trust the workspace.',
  };
}

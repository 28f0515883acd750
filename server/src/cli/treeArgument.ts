// The --tree argument as the launcher reads it, before the command parses its arguments
// for real: enough to start the tree-state git early (launch.ts). A misread (say
// `--config --tree`) costs only a git process, since the command takes the early start
// only for the tree it opens itself (adoptTreeState). Not livepatch-check.ts's parseArgs:
// that one needs the engine's limits and usage text, i.e. the very bundle this runs before.

export function treeArgument(argv: string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') return null;
    if (argv[i] === '--tree') return argv[i + 1] ?? null;
    if (argv[i].startsWith('--tree=')) return argv[i].slice('--tree='.length);
  }
  return null;
}

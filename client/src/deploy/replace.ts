// Atomic replace is the user's choice, made knowing what it replaces. A replace patch, once
// its transition ends, disables and frees every other livepatch on the target (their
// modules stay loaded, harmlessly, until removed): the pure "what would be replaced" here,
// shared by the extension's Build/Load confirmation and livepatch-deploy --replace.

import type { LivepatchState } from '../remote/state';

/** The livepatches on the target that loading `name` as a replace patch would disable and replace. */
export function wouldReplace(state: Pick<LivepatchState, 'patches'>, name: string): string[] {
  // Every patch the kernel still has (enabled, or in a transition) goes, whatever its own
  // replace flag; a patch of the same name is not replaced: insmod refuses the duplicate.
  return state.patches.filter((p) => p.name !== name).map((p) => p.name);
}

/** One line for logs and the deploy CLI. */
export function replaceSummary(state: Pick<LivepatchState, 'patches'>, name: string, target: string, replace: boolean): string {
  const others = wouldReplace(state, name);
  if (!replace)
    return others.length
      ? `${name} stacks on the livepatches loaded on ${target}: ${others.join(', ')}`
      : `${name} is the only livepatch on ${target}`;
  return others.length
    ? `${name} replaces the livepatches loaded on ${target}: ${others.join(', ')} (they are disabled when its transition ends)`
    : `${name} is a replace patch; nothing else is loaded on ${target}, so it replaces nothing`;
}

/** The modal question before building or loading `name` when other patches are loaded, or null when there is nothing to ask. */
export function replaceQuestion(
  state: Pick<LivepatchState, 'patches'>,
  name: string,
  target: string,
  when: 'build' | 'load',
): string | null {
  const others = wouldReplace(state, name);
  if (!others.length) return null;
  const list = others.join(', ');
  return when === 'build'
    ? `${target} has ${others.length === 1 ? 'a livepatch' : `${others.length} livepatches`} loaded: ${list}. Build ${name} as an atomic-replace patch? ` +
        `Loading it would disable and replace ${list}, and their changes are gone unless ${name} carries them too. Otherwise it stacks on them.`
    : `Loading ${name} replaces ${list} on ${target}: ${others.length === 1 ? 'it is' : 'they are'} disabled when the transition ends, ` +
        `and ${others.length === 1 ? 'its' : 'their'} changes are gone unless ${name} carries them too. Load it?`;
}

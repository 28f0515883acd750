// The one SSH transport, by job: quoting (quote.ts), settings mapping (settings.ts),
// destination and argv (argv.ts), wrapper scripts (wrappers.ts), failure classification
// (failures.ts), the in-process mutex (mutex.ts), the control-socket directory
// (controlDir.ts), one ssh process (spawn.ts) and SshTarget (target.ts).
// Pure Node: no `vscode` import, so it is tested against a real sshd with node:test.
//
// The names for a target, one per meaning:
//   TargetEntry      a `livepatch.targets` entry as the user wrote it
//   TargetSettings   an entry with its defaults filled in: what deploy/operations reads
//   SshTargetConfig  the options of one ssh connection
//   SshTarget        that connection
//   Target           (targets.ts) the active target: its TargetSettings and its SshTarget

export { SshError, type SshErrorDetail, type SshErrorKind } from './errors';
export { assertModuleName, assertRemotePath, shJoin, shQuote } from './quote';
export { configFromSetting, type TargetBackend, type TargetEntry, type TargetEntryTransport } from './settings';
export { buildSshArgs, parseDestination, terminalSshCommand, type ParsedDestination, type SshTargetConfig } from './argv';
export { remoteRunCommand } from './wrappers';
export { classifyFailure } from './failures';
export { prepareControlDir, targetControlDir } from './controlDir';
export { SshTarget, type CheckResult, type RunOptions, type RunResult, type UploadOptions } from './target';

// The engine's public entry: what a program built on the engine (livepatch-check,
// livepatch-deploy, the deploy client) may use. Everything else under engine/ is internal
// and may change shape; client/ imports the engine only through this file (boundary.test.ts).
// The language server in server/src/lsp sits beside the engine and may reach further in.

// Analysing patches
export { analyzePatches, AnalysisCancelled, DEFAULT_MAX_FILE_BYTES, PatchError } from './analyze';
export type { AnalysisResult, AnalyzeOptions, PatchInput } from './analyze';
export { readBounded, MAX_PATCH_BYTES } from './diff/boundedRead';
export type { Finding, RelatedLocation, Severity } from './model';
export { NOT_ANALYSED, notAnalysedFinding } from './notAnalysed';
export { formatText } from './report/text';
export { toWireFinding, type WireFinding, type WireRefusal } from './report/wire';
export { createParser } from './parse/parser';
export type { CParser } from './parse/parser';
export { KernelTree, readConfigFile } from './tree/kernelTree';

// Generating modules
export { generateModule, GenerateError, parseSymvers } from './generate/moduleGenerator';
export type { GeneratedModule, GenerateOptions, PatchedFunction, Refusal } from './generate/moduleGenerator';
export { checkModuleName, moduleNameFrom, moduleNameProblem } from './generate/moduleName';
export { formatRefusal } from './generate/refusals';
export { generatePatchedUnit } from './generate/patchedUnit';
export type { PatchedUnitModule, PatchedUnitOptions } from './generate/patchedUnit';
export { Kallsyms, parseSymversObjects } from './generate/symbols';
export { KlpElfError } from './generate/klpElf';

// Mapping build output back to the source
export { BuildLocator } from './locate/buildLocations';
export type { BuildReference, SourceLocation } from './locate/buildLocations';

// The rule catalog (SARIF's rule list, documentation)
export { allRules, engineFindingIds, findingKind, ruleById } from './rules';
export type { Rule } from './rules/rule';

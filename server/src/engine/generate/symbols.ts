// The target's symbol parsers moved to engine/target/symbols.ts (the rules read them too);
// re-exported here for the generator, the host build and the deploy path.
export { Kallsyms, parseSymversObjects, parseSymversEntries, type KallsymsEntry, type SymversEntry } from '../target/symbols';

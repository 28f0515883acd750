// The livepatch ELF pass: turns a kbuild-built `.ko` into a livepatch module whose code
// reaches the running kernel's non-exported and static symbols through klp relocations.
// Pure TypeScript, no dependency; the pieces live in klpElf/ (ELF reader and writer,
// placeholder encoding, the sections the kernel reads at load, the pass).
//
// The format (Documentation/livepatch/module-elf-format.rst, checked against the 6.1
// code in kernel/livepatch/core.c and kernel/module/main.c):
//
// - A livepatch symbol is named `.klp.sym.<object>.<name>,<sympos>` and has
//   st_shndx = SHN_LIVEPATCH (0xff20), so simplify_symbols() leaves it alone.
//   klp_resolve_symbols() parses the name with `.klp.sym.%55[^.].%511[^,],%lu` and
//   looks it up in kallsyms; sympos 0 means "the only one".
// - Relocations against livepatch symbols live in SHT_RELA sections named
//   `.klp.rela.<object>.<section>` with SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH
//   (0x00100000), sh_info = the section they patch, sh_link = the symbol table. Every
//   entry of such a section must reference a livepatch symbol. SHF_ALLOC keeps the
//   section in memory (copy_module_elf() keeps the section headers and the complete
//   symbol table of a livepatch module) because a module's relocations may be written
//   long after load. Names starting `.klp` are never init sections, so they stay.
// - When: apply_relocations() writes `.klp.rela.vmlinux.*` while the patch module
//   loads, in section order with the ordinary ones, before module_finalize() and the
//   COMING notifiers read the special sections (jump labels, static calls,
//   alternatives…). `.klp.rela.<module>.*` are written by klp_init_object_loaded(),
//   in klp_enable_patch() when the module is loaded, else when it loads, and only for
//   modules the patch has a klp_object for.
// - Grouping is by the object that *defines* the symbol: klp_resolve_symbols() refuses
//   a vmlinux symbol in a module's section ("invalid access to vmlinux symbol").
// - Kernel alignment and sizes: entries are read in place as Elf64_Rela through
//   sh_addr, so sh_addralign is 8; the count is sh_size / sizeof(Elf64_Rela) (the
//   loader reuses sh_entsize for layout offsets, but readelf wants 24 there).
//
// What the pass refuses (KlpElfError, with a rule id, the symbol and the section):
// a module symbol in a section the kernel reads at patch-module load
// (klpElf/specialSections.ts lists them, with where 6.1 reads each) or in an init
// section; malformed placeholders; a placeholder the object defines; relocation types
// the x86_64 loader cannot write; anything that is not an x86_64 ET_REL ELF64 file.
//
// The placeholders (klpElf/placeholder.ts) are what the generator binds C declarations
// to, because the assembler cannot take a comma in a symbol name; placeholderBinding()
// also makes them weak, which is how modpost lets them through while its other errors
// stay fatal.

export { convertToLivepatchElf, type KlpElfOptions, type KlpElfResult, type KlpRelaSection, type ConvertedSymbol } from './klpElf/convert';
export { KlpElfError, type KlpElfRule } from './klpElf/errors';
export {
  decodePlaceholder,
  encodePlaceholder,
  isPlaceholder,
  klpSymbolName,
  placeholderBinding,
  PLACEHOLDER_PREFIX,
  type KlpSymbol,
} from './klpElf/placeholder';
export { LOAD_TIME_SECTIONS, isInitSection } from './klpElf/specialSections';
export { SHF_RELA_LIVEPATCH, SHN_LIVEPATCH } from './klpElf/elf64';

// Why the livepatch ELF pass refuses an object. Every refusal carries a rule id and,
// where there is one, the symbol and the section it is about, so the caller can say
// which declaration of the generated module to change.

export type KlpElfRule =
  /** Bad magic. */
  | 'klp-elf-not-elf'
  /** Not ELF64 little-endian EM_X86_64. */
  | 'klp-elf-not-x86_64'
  /** Not ET_REL (a .ko or .o). */
  | 'klp-elf-not-relocatable'
  /** Truncated or inconsistent headers, tables or strings. */
  | 'klp-elf-malformed'
  /** More sections than the ELF header can count without extended numbering. */
  | 'klp-elf-too-many-sections'
  /** A symbol with the placeholder prefix that does not decode. */
  | 'klp-placeholder-malformed'
  /** A livepatch symbol that cannot be spelled as a placeholder or as `.klp.sym.*`. */
  | 'klp-placeholder-unencodable'
  /** A placeholder the object defines instead of leaving undefined. */
  | 'klp-placeholder-defined'
  /** A placeholder referenced through SHT_REL, which the x86_64 module loader does not apply. */
  | 'klp-reloc-not-rela'
  /** A relocation type against a placeholder that arch/x86/kernel/module.c cannot write. */
  | 'klp-reloc-type-unsupported'
  /** A symbol of another module referenced from a section the kernel reads while the patch module loads. */
  | 'klp-reloc-in-special-section'
  /** A symbol of another module referenced from an init section, which is freed before that module may load. */
  | 'klp-reloc-in-init-section'
  /** A symbol of a module the patch has no klp_object for: its relocations would never be written. */
  | 'klp-reloc-object-not-patched';

export class KlpElfError extends Error {
  constructor(
    readonly rule: KlpElfRule,
    message: string,
    readonly symbol?: string,
    readonly section?: string,
  ) {
    super(`${message} [${rule}]`);
    this.name = 'KlpElfError';
  }
}

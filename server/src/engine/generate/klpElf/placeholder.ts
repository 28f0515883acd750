// The placeholder spelling of a livepatch symbol. The generated C binds a declaration
// to it with an asm label; the ELF pass renames it to `.klp.sym.<object>.<name>,<sympos>`,
// which the assembler cannot take (the comma ends the symbol).
//
//   __klp_sym_<len>_<object>_<len>_<name>_<sympos>
//   __klp_sym_7_vmlinux_18_saved_command_line_0
//
// Each field is length-prefixed, so names holding `_`, `.` (`foo.isra.0`, `bar.cold`)
// or digits need no escaping and the text stays readable in a build error. Lengths and
// sympos are canonical decimals (no leading zero), so one symbol has exactly one
// placeholder and decode(encode(s)) = s, encode(decode(p)) = p.
//
// The limits are the kernel's: klp_resolve_symbols() parses `.klp.sym.%55[^.].%511[^,],%lu`
// (MODULE_NAME_LEN 56, KSYM_NAME_LEN 512), and a module's name (mod->name) is
// KBUILD_MODNAME, made of [A-Za-z0-9_]. A name may use what the assembler takes in a
// symbol: [A-Za-z0-9_.$] (GCC accepts `$` in identifiers).

import { KlpElfError } from './errors';

export interface KlpSymbol {
  /** `vmlinux` or the name of the module that defines the symbol. */
  object: string;
  name: string;
  /** 0 when the name is unique in the object, else its 1-based position in kallsyms order. */
  sympos: number;
}

export const PLACEHOLDER_PREFIX = '__klp_sym_';

const OBJECT_RE = /^[A-Za-z0-9_]{1,55}$/;
const NAME_RE = /^[A-Za-z0-9_.$]{1,511}$/;

function check(sym: KlpSymbol): string | undefined {
  if (!OBJECT_RE.test(sym.object)) return `object '${sym.object}' is not a module name (1 to 55 of [A-Za-z0-9_])`;
  if (!NAME_RE.test(sym.name)) return `symbol name '${sym.name}' is not 1 to 511 of [A-Za-z0-9_.$]`;
  if (!Number.isSafeInteger(sym.sympos) || sym.sympos < 0) return `sympos ${sym.sympos} is not a non-negative integer`;
  return undefined;
}

export function isPlaceholder(symbolName: string): boolean {
  return symbolName.startsWith(PLACEHOLDER_PREFIX);
}

export function encodePlaceholder(sym: KlpSymbol): string {
  const why = check(sym);
  if (why) throw new KlpElfError('klp-placeholder-unencodable', `cannot encode a livepatch symbol: ${why}`, sym.name);
  return `${PLACEHOLDER_PREFIX}${sym.object.length}_${sym.object}_${sym.name.length}_${sym.name}_${sym.sympos}`;
}

/** Decodes a placeholder; throws `klp-placeholder-malformed` naming it when it is not one encodePlaceholder writes. */
export function decodePlaceholder(placeholder: string): KlpSymbol {
  const fail = (why: string) =>
    new KlpElfError('klp-placeholder-malformed', `malformed livepatch placeholder '${placeholder}': ${why}`, placeholder);
  if (!isPlaceholder(placeholder)) throw fail(`it does not start with ${PLACEHOLDER_PREFIX}`);
  let at = PLACEHOLDER_PREFIX.length;
  const number = (what: string, last: boolean): number => {
    const m = /^(0|[1-9][0-9]*)/.exec(placeholder.slice(at));
    if (!m) throw fail(`expected the ${what} at offset ${at}`);
    at += m[1].length;
    if (!last) {
      if (placeholder[at] !== '_') throw fail(`expected '_' after the ${what} at offset ${at}`);
      at += 1;
    }
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n)) throw fail(`the ${what} is too large`);
    return n;
  };
  const field = (what: string): string => {
    const len = number(`length of the ${what}`, false);
    if (at + len + 1 > placeholder.length) throw fail(`the ${what} is shorter than its length ${len}`);
    const text = placeholder.slice(at, at + len);
    at += len;
    if (placeholder[at] !== '_') throw fail(`expected '_' after the ${what} '${text}'`);
    at += 1;
    return text;
  };
  const object = field('object');
  const name = field('name');
  const sympos = number('sympos', true);
  if (at !== placeholder.length) throw fail(`trailing text '${placeholder.slice(at)}'`);
  const sym = { object, name, sympos };
  const why = check(sym);
  if (why) throw fail(why);
  return sym;
}

/** The name the livepatch core resolves (Documentation/livepatch/module-elf-format.rst, section 4.2). */
export function klpSymbolName(sym: KlpSymbol): string {
  return `.klp.sym.${sym.object}.${sym.name},${sym.sympos}`;
}

/**
 * What follows a C declarator to bind it to the livepatch symbol, e.g.
 * `extern char *saved_command_line __asm__("...") __attribute__((__weak__));`.
 * Weak, because modpost reports undefined symbols only when they are not weak
 * (check_exports() in scripts/mod/modpost.c): every other modpost error stays
 * fatal without KBUILD_MODPOST_WARN. A Module.symvers fragment through
 * KBUILD_EXTRA_SYMBOLS does not do: with CONFIG_MODVERSIONS, modpost lists each
 * symbol it resolves in __versions and fails on names of 56 characters or more
 * ("too long symbol"), which long kernel names reach. The ELF pass makes the
 * symbol global again.
 */
export function placeholderBinding(sym: KlpSymbol): string {
  return `__asm__("${encodePlaceholder(sym)}") __attribute__((__weak__))`;
}

// Sections of the patch module that the 6.1 kernel reads, copies or patches while the
// patch module itself loads: after apply_relocations(), in post_relocation() /
// module_finalize() or in the MODULE_STATE_COMING notifiers. By then the loader has
// written the `.klp.rela.vmlinux.*` sections (apply_relocations() handles
// SHF_RELA_LIVEPATCH sections through klp_apply_section_relocs() with objname NULL),
// but the `.klp.rela.<module>.*` sections are written only by klp_init_object_loaded(),
// when klp_enable_patch() runs or when that module loads later. A module symbol in
// one of these sections would be read as 0 + addend.

export const LOAD_TIME_SECTIONS: ReadonlyMap<string, string> = new Map([
  // kernel/module/main.c, find_module_sections(): tables the loader and its notifiers walk.
  ['__param', 'module parameters (parse_args() at load)'],
  ['__ksymtab', 'exported symbols'],
  ['__ksymtab_gpl', 'exported symbols'],
  ['__kcrctab', 'export CRCs'],
  ['__kcrctab_gpl', 'export CRCs'],
  ['.ctors', 'constructors (do_mod_ctors())'],
  ['.init_array', 'constructors (do_mod_ctors())'],
  ['__tracepoints_ptrs', 'tracepoints (tracepoint module notifier)'],
  ['___srcu_struct_ptrs', 'SRCU structures (srcu module notifier)'],
  ['__bpf_raw_tp_map', 'BPF raw tracepoints (bpf_event module notifier)'],
  ['__jump_table', 'jump labels (jump_label_module_notify())'],
  ['_ftrace_events', 'trace events (trace_module_notify())'],
  ['_ftrace_eval_map', 'trace eval maps'],
  ['__trace_printk_fmt', 'trace_printk formats'],
  ['__mcount_loc', 'ftrace call sites (ftrace_module_init())'],
  ['__patchable_function_entries', 'ftrace call sites (ftrace_module_init())'],
  ['_error_injection_whitelist', 'error injection (module notifier)'],
  ['_kprobe_blacklist', 'kprobe blacklist (kprobes module notifier)'],
  ['.printk_index', 'printk index'],
  ['.static_call_sites', 'static calls (static_call_module_notify())'],
  ['.kunit_test_suites', 'KUnit suites'],
  ['__ex_table', 'exception table (sorted at load)'],
  ['__dyndbg', 'dynamic debug descriptors (dynamic_debug_setup())'],
  ['__dyndbg_classes', 'dynamic debug classes'],
  ['.gnu.linkonce.this_module', 'struct module, read by the loader'],
  // lib/bug.c, module_bug_finalize() from post_relocation().
  ['__bug_table', 'BUG/WARN table (module_bug_finalize())'],
  // arch/x86/kernel/module.c, module_finalize(): code patching at load.
  ['.parainstructions', 'paravirt patch sites (apply_paravirt())'],
  ['.retpoline_sites', 'retpoline sites (apply_retpolines())'],
  ['.return_sites', 'return thunk sites (apply_returns())'],
  ['.altinstructions', 'alternatives (apply_alternatives())'],
  ['.altinstr_replacement', 'alternative code, copied into place by apply_alternatives()'],
  ['.ibt_endbr_seal', 'IBT ENDBR sealing (apply_ibt_endbr())'],
  ['.smp_locks', 'SMP lock prefixes (alternatives_smp_module_add())'],
  ['.orc_unwind', 'ORC unwind data (unwind_module_init())'],
  ['.orc_unwind_ip', 'ORC unwind addresses (unwind_module_init())'],
  // Later kernels (call depth tracking, 6.2) patch these too; refusing them costs nothing on 6.1.
  ['.call_sites', 'call depth tracking sites (callthunks_patch_module_calls())'],
]);

/**
 * Sections the loader places in init memory (module_init_section(): names starting
 * with `.init`), freed after the patch module's init: a module symbol's relocation
 * there may be written after the memory is gone.
 */
export function isInitSection(name: string): boolean {
  return name.startsWith('.init');
}

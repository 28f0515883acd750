// Stand-ins for kpatch-build's kpatch-syscall.h and kpatch-macros.h, written into a
// patched-unit module that uses KPATCH_SYSCALL_DEFINEn or the KPATCH_*_CALLBACK macros.

/**
 * kpatch-build's KPATCH_SYSCALL_DEFINEn for this backend (x86_64): the syscall's body and
 * argument handling as SYSCALL_DEFINEn makes them, with entry points named livepatch___<abi>_sys_<name>
 * for the klp_funcs, and without the syscall's trace metadata and error-injection entry,
 * which stay the kernel's.
 */
export const KPATCH_SYSCALL = `/* livepatch-check's stand-in for kpatch-build's kpatch-syscall.h (kbuild backend, x86_64). */
#ifndef __LIVEPATCH_KPATCH_SYSCALL_H
#define __LIVEPATCH_KPATCH_SYSCALL_H
#include <linux/syscalls.h>

#define __LIVEPATCH_SYS_ENTRY(abi, name, ...) \\
\tlong livepatch___##abi##_##name(const struct pt_regs *regs); \\
\tlong livepatch___##abi##_##name(const struct pt_regs *regs) \\
\t{ \\
\t\treturn __se_##name(__VA_ARGS__); \\
\t}

#ifdef CONFIG_IA32_EMULATION
#define __LIVEPATCH_IA32_ENTRY(x, name, ...) __LIVEPATCH_SYS_ENTRY(ia32, sys##name, SC_IA32_REGS_TO_ARGS(x, __VA_ARGS__))
#else
#define __LIVEPATCH_IA32_ENTRY(x, name, ...)
#endif

#define __LIVEPATCH_SYSCALL_DEFINEx(x, name, ...) \\
\tstatic long __se_sys##name(__MAP(x, __SC_LONG, __VA_ARGS__)); \\
\tstatic inline long __do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__)); \\
\t__LIVEPATCH_SYS_ENTRY(x64, sys##name, SC_X86_64_REGS_TO_ARGS(x, __VA_ARGS__)) \\
\t__LIVEPATCH_IA32_ENTRY(x, name, __VA_ARGS__) \\
\tstatic long __se_sys##name(__MAP(x, __SC_LONG, __VA_ARGS__)) \\
\t{ \\
\t\tlong ret = __do_sys##name(__MAP(x, __SC_CAST, __VA_ARGS__)); \\
\t\t__MAP(x, __SC_TEST, __VA_ARGS__); \\
\t\t__PROTECT(x, ret, __MAP(x, __SC_ARGS, __VA_ARGS__)); \\
\t\treturn ret; \\
\t} \\
\tstatic inline long __do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__))

#define KPATCH_SYSCALL_DEFINE1(name, ...) __LIVEPATCH_SYSCALL_DEFINEx(1, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE2(name, ...) __LIVEPATCH_SYSCALL_DEFINEx(2, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE3(name, ...) __LIVEPATCH_SYSCALL_DEFINEx(3, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE4(name, ...) __LIVEPATCH_SYSCALL_DEFINEx(4, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE5(name, ...) __LIVEPATCH_SYSCALL_DEFINEx(5, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE6(name, ...) __LIVEPATCH_SYSCALL_DEFINEx(6, _##name, __VA_ARGS__)
#endif
`;

export type CallbackKind = 'pre_patch' | 'post_patch' | 'pre_unpatch' | 'post_unpatch';

export const CALLBACK_MACROS: Record<string, CallbackKind> = {
  KPATCH_PRE_PATCH_CALLBACK: 'pre_patch',
  KPATCH_POST_PATCH_CALLBACK: 'post_patch',
  KPATCH_PRE_UNPATCH_CALLBACK: 'pre_unpatch',
  KPATCH_POST_UNPATCH_CALLBACK: 'post_unpatch',
  KLP_PRE_PATCH_CALLBACK: 'pre_patch',
  KLP_POST_PATCH_CALLBACK: 'post_patch',
  KLP_PRE_UNPATCH_CALLBACK: 'pre_unpatch',
  KLP_POST_UNPATCH_CALLBACK: 'post_unpatch',
};

/**
 * What a patch written for kpatch-build may use from its kpatch-macros.h, for this backend:
 * the callback macros register the function for this object's klp_callbacks (the tables
 * file names it through a global alias), and KPATCH_PRINTK prints to the kernel log.
 */
export const KPATCH_MACROS = `/* livepatch-check's stand-in for kpatch-build's kpatch-macros.h (kbuild backend). */
#ifndef __LIVEPATCH_KPATCH_MACROS_H
#define __LIVEPATCH_KPATCH_MACROS_H
#include <linux/livepatch.h>
#include <linux/printk.h>

typedef struct klp_object patch_object;

#define __LIVEPATCH_CB_NAME2(obj, kind) __livepatch_cb_##obj##_##kind
#define __LIVEPATCH_CB_NAME(obj, kind) __LIVEPATCH_CB_NAME2(obj, kind)
#define __LIVEPATCH_CB(kind, fn) \\
\textern __typeof__(fn) __LIVEPATCH_CB_NAME(__LIVEPATCH_OBJECT, kind) __attribute__((__alias__(#fn)))

#define KPATCH_PRE_PATCH_CALLBACK(fn) __LIVEPATCH_CB(pre_patch, fn)
#define KPATCH_POST_PATCH_CALLBACK(fn) __LIVEPATCH_CB(post_patch, fn)
#define KPATCH_PRE_UNPATCH_CALLBACK(fn) __LIVEPATCH_CB(pre_unpatch, fn)
#define KPATCH_POST_UNPATCH_CALLBACK(fn) __LIVEPATCH_CB(post_unpatch, fn)
#define KLP_PRE_PATCH_CALLBACK KPATCH_PRE_PATCH_CALLBACK
#define KLP_POST_PATCH_CALLBACK KPATCH_POST_PATCH_CALLBACK
#define KLP_PRE_UNPATCH_CALLBACK KPATCH_PRE_UNPATCH_CALLBACK
#define KLP_POST_UNPATCH_CALLBACK KPATCH_POST_UNPATCH_CALLBACK

#define KPATCH_PRINTK(fmt, ...) printk(fmt, ##__VA_ARGS__)
#endif
`;

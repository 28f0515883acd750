// SYNTAX TEST "source.c" "livepatch macros stand out in C"
KPATCH_SYSCALL_DEFINE1(newuname, struct new_utsname __user *, name)
// <---------------------- keyword.other.livepatch.syscall
KPATCH_PRE_PATCH_CALLBACK(demo_pre_patch);
// <------------------------- keyword.other.livepatch.callback
	ps = klp_shadow_get_or_alloc(p, DEMO_ID, sizeof(*ps), GFP_KERNEL, NULL, NULL);
//    ^^^^^^^^^^^^^^^^^^^^^^^ support.function.livepatch.shadow
/* KPATCH_PRINTK in a comment stays a comment */
// ^^^^^^^^^^^^^ comment.block.c - support.function.livepatch.macro

// SPDX-License-Identifier: GPL-2.0
/*
 * klp_smoke - the smallest useful livepatch, used by scripts/testvm/smoke.sh
 * to prove the test VM can build, load, apply and remove a livepatch.
 *
 * It replaces cmdline_proc_show() (fs/proc/cmdline.c) so that reading
 * /proc/cmdline returns KLP_SMOKE_MARKER instead of the boot command line.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#define KLP_SMOKE_MARKER "klp-smoke: cmdline_proc_show is livepatched"

/* Same signature as the original; seq_file is all it needs. */
static int klp_smoke_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, KLP_SMOKE_MARKER "\n");
	return 0;
}

static struct klp_func klp_smoke_funcs[] = {
	{
		.old_name = "cmdline_proc_show",
		.new_func = klp_smoke_cmdline_proc_show,
	},
	{ }
};

/* .name == NULL: the function lives in vmlinux, not in a module. */
static struct klp_object klp_smoke_objs[] = {
	{
		.funcs = klp_smoke_funcs,
	},
	{ }
};

static struct klp_patch klp_smoke_patch = {
	.mod = THIS_MODULE,
	.objs = klp_smoke_objs,
};

static int __init klp_smoke_init(void)
{
	return klp_enable_patch(&klp_smoke_patch);
}

static void __exit klp_smoke_exit(void)
{
}

module_init(klp_smoke_init);
module_exit(klp_smoke_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Test VM smoke livepatch: marks /proc/cmdline");
MODULE_INFO(livepatch, "Y");

// The seed kernel tree of the fuzzer: a handful of small kernel-style files
// (a module, a built-in file with a syscall, a header, lib/, assembly, Kbuild
// files) that the seed patches and the random edits of fuzz.ts apply to.
// Written to a temp dir once per process; the "huge" variant adds one 10 MB
// generated source (a table), for inputs that patch a file over the size cap.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const SEED_TREE: Record<string, string> = {
  Makefile: `# SPDX-License-Identifier: GPL-2.0
VERSION = 6
PATCHLEVEL = 1
obj-y += kernel/ lib/ drivers/
`,
  Kbuild: `obj-y += kernel/
obj-y += drivers/
`,
  '.config': `CONFIG_FUZZ_DRV=m
CONFIG_FUZZ_CORE=y
CONFIG_JUMP_LABEL=y
CONFIG_HAVE_STATIC_CALL=y
`,
  'kernel/Makefile': `obj-y += fuzz_sys.o
`,
  'kernel/fuzz_sys.c': `// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_sys.c - a built-in file with a syscall, a static key and a kthread.
 */
#include <linux/kernel.h>
#include <linux/syscalls.h>
#include <linux/jump_label.h>
#include <linux/kthread.h>
#include <linux/fuzz.h>

DEFINE_STATIC_KEY_FALSE(fuzz_fast_path);
static DEFINE_SPINLOCK(fuzz_lock);
static unsigned int fuzz_budget = 64;
static const char *const fuzz_names[] = { "idle", "busy", "dead" };

int fuzz_count(const struct fuzz_item *it)
{
	int n = 0;

	if (static_branch_unlikely(&fuzz_fast_path))
		return it->count;
	spin_lock(&fuzz_lock);
	n = it->count + fuzz_budget;
	spin_unlock(&fuzz_lock);
	return n;
}
EXPORT_SYMBOL_GPL(fuzz_count);

static inline int fuzz_clamp(int v)
{
	return v > 100 ? 100 : v;
}

SYSCALL_DEFINE2(fuzz_query, unsigned int, which, int __user *, out)
{
	struct fuzz_item it = { .count = fuzz_clamp(which) };

	if (which >= ARRAY_SIZE(fuzz_names))
		return -EINVAL;
	pr_debug("fuzz: %s\\n", fuzz_names[which]);
	return put_user(fuzz_count(&it), out);
}

static int fuzz_thread(void *data)
{
	while (!kthread_should_stop()) {
		schedule_timeout_interruptible(HZ);
		WARN_ON_ONCE(fuzz_budget == 0);
	}
	return 0;
}

static int __init fuzz_sys_init(void)
{
	kthread_run(fuzz_thread, NULL, "kfuzzd");
	return 0;
}
late_initcall(fuzz_sys_init);
`,
  'drivers/Makefile': `obj-$(CONFIG_FUZZ_DRV) += fuzz/
`,
  'drivers/fuzz/Makefile': `obj-$(CONFIG_FUZZ_DRV) += fuzz_drv.o
fuzz_drv-y := fuzz_drv.o
`,
  'drivers/fuzz/fuzz_drv.c': `// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/static_call.h>
#include <linux/fuzz.h>

#define FUZZ_MAX	16
#define FUZZ_NAME	"fuzz_drv"

struct fuzz_dev {
	struct list_head node;
	int id;
	unsigned long flags;
};

static LIST_HEAD(fuzz_devs);
static int fuzz_nr_devs;

static int fuzz_default_op(int v)
{
	return v + 1;
}
DEFINE_STATIC_CALL(fuzz_op, fuzz_default_op);

static int fuzz_probe(struct fuzz_dev *d)
{
	static bool warned;

	if (d->id >= FUZZ_MAX) {
		if (!warned)
			pr_warn("%s: too many devices (line %d)\\n", FUZZ_NAME, __LINE__);
		warned = true;
		return -ENOSPC;
	}
	list_add_tail(&d->node, &fuzz_devs);
	fuzz_nr_devs++;
	return static_call(fuzz_op)(d->id);
}

static void fuzz_remove_all(void)
{
	struct fuzz_dev *d, *tmp;

	list_for_each_entry_safe(d, tmp, &fuzz_devs, node) {
		list_del(&d->node);
		kfree(d);
	}
}

static const struct fuzz_ops fuzz_drv_ops = {
	.probe = fuzz_probe,
	.remove = fuzz_remove_all,
};

#ifdef CONFIG_FUZZ_DEBUG
static void fuzz_dump(void)
{
	printk(KERN_DEBUG "fuzz: %d devices\\n", fuzz_nr_devs);
}
#else
static inline void fuzz_dump(void) { }
#endif

static int __init fuzz_drv_init(void)
{
	fuzz_dump();
	return fuzz_register(&fuzz_drv_ops);
}

static void __exit fuzz_drv_exit(void)
{
	fuzz_unregister(&fuzz_drv_ops);
	fuzz_remove_all();
}

module_init(fuzz_drv_init);
module_exit(fuzz_drv_exit);
MODULE_LICENSE("GPL");
`,
  'include/linux/fuzz.h': `/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_FUZZ_H
#define _LINUX_FUZZ_H

#include <linux/types.h>

struct fuzz_dev;

struct fuzz_item {
	int count;
	u32 flags;
};

struct fuzz_ops {
	int (*probe)(struct fuzz_dev *d);
	void (*remove)(void);
};

enum fuzz_state {
	FUZZ_IDLE,
	FUZZ_BUSY,
};

extern int fuzz_count(const struct fuzz_item *it);
int fuzz_register(const struct fuzz_ops *ops);
void fuzz_unregister(const struct fuzz_ops *ops);

static inline bool fuzz_busy(const struct fuzz_item *it)
{
	return it->flags & 1;
}

#endif /* _LINUX_FUZZ_H */
`,
  'lib/fuzz_lib.c': `// SPDX-License-Identifier: GPL-2.0
#include <linux/export.h>

unsigned int fuzz_hash(const char *s)
{
	unsigned int h = 0;

	while (*s)
		h = h * 31 + *s++;
	return h;
}
EXPORT_SYMBOL(fuzz_hash);
`,
  'arch/x86/kernel/fuzz_asm.S': `/* SPDX-License-Identifier: GPL-2.0 */
#include <linux/linkage.h>

SYM_FUNC_START(fuzz_asm_nop)
	nop
	RET
SYM_FUNC_END(fuzz_asm_nop)
`,
};

/** Tree-relative path of the 10 MB file in the huge tree. */
export const HUGE_FILE = 'drivers/fuzz/huge_table.c';

/** About 10 MB of a generated table: repetitive lines, the worst case for locating hunks. */
export function hugeFileText(): string {
  const head = '// SPDX-License-Identifier: GPL-2.0\n/* generated table */\n#include <linux/types.h>\n\nconst u16 fuzz_table[] = {\n';
  const rows: string[] = [];
  for (let i = 0; i < 400_000; i++)
    rows.push(i % 1000 === 0 ? `\t/* ${i} */ 0x${(i & 0xffff).toString(16)},` : '\t0x0000, 0x0000, 0x0000,');
  return head + rows.join('\n') + '\n};\n';
}

export interface SeedTrees {
  small: string;
  huge: string;
}

function writeFiles(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
}

/** Writes the small tree to `dir/small` and (unless `huge` is false) the small tree plus the 10 MB file to `dir/huge`. */
export function writeSeedTrees(dir: string, opts: { huge?: boolean } = {}): SeedTrees {
  const small = path.join(dir, 'small');
  const huge = path.join(dir, 'huge');
  writeFiles(small, SEED_TREE);
  if (opts.huge !== false) writeFiles(huge, { ...SEED_TREE, [HUGE_FILE]: hugeFileText() });
  return { small, huge };
}

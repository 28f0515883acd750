// SPDX-License-Identifier: GPL-2.0
/*
 * procstats: a small /proc file used by the livepatch-check demo.
 */
#include <linux/init.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/procstats.h>

static unsigned long procstats_limit = 128;

static void procstats_fill(struct procstats_sample *s)
{
	s->timestamp = ktime_get_ns();
	s->nr_running = nr_running();
	s->nr_blocked = nr_iowait();
}

static int procstats_show(struct seq_file *m, void *v)
{
	struct procstats_sample s;

	procstats_fill(&s);
	WARN_ON(s.nr_running > procstats_limit);
	seq_printf(m, "running %lu\n", s.nr_running);
	seq_printf(m, "total %lu\n", procstats_total(&s));
	return 0;
}

static int __init proc_procstats_init(void)
{
	proc_create_single("procstats", 0, NULL, procstats_show);
	return 0;
}
fs_initcall(proc_procstats_init);

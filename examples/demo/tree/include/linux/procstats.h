/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_PROCSTATS_H
#define _LINUX_PROCSTATS_H

#include <linux/types.h>

struct procstats_sample {
	u64 timestamp;
	unsigned long nr_running;
	unsigned long nr_blocked;
};

static inline unsigned long procstats_total(const struct procstats_sample *s)
{
	return s->nr_running + s->nr_blocked;
}

#endif

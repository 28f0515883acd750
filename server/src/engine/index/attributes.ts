// Kernel annotation vocabulary the indexer records on definitions.

import { words } from '../util/text';

/** Function attributes worth recording (section, tracing, inlining, coldness). */
export const FUNCTION_ATTRIBUTES = new Set([
  ...words(`
    __init __exit __meminit __init_or_module __ref __head __cpuinit notrace noinstr
    __no_instrument_function __noinstr_section __sched __lockfunc __cpuidle __irq_entry __softirq_entry
    __kprobes __section __always_inline noinline __noinline noinline_for_stack nokprobe_inline __cold
    __hot __noreturn __weak __visible asmlinkage __used __maybe_unused __must_check __bpf_kfunc
  `),
]);

/** Variable placement macros. */
export const DATA_ATTRIBUTES = new Set([
  ...words(`
    __initdata __initconst __exitdata __meminitdata __meminitconst __initdata_or_module __refdata
    __refconst __read_mostly __ro_after_init __cacheline_aligned __cacheline_aligned_in_smp
    ____cacheline_aligned ____cacheline_aligned_in_smp ____cacheline_internodealigned_in_smp
    __page_aligned_data __page_aligned_bss __section __percpu __nosavedata __tracepoint_string
  `),
]);

/** The subset whose __LINE__ reaches the instructions as an argument (not just the __bug_table). */
export const LINE_ARGUMENT_MACROS = new Set([
  ...words(`
    __LINE__ btrfs_abort_transaction btrfs_handle_fs_error btrfs_panic ext4_error ext4_error_inode
    ext4_error_file ext4_warning ext4_warning_inode ext4_msg ext4_std_error ext4_abort __ext4_error
    EXT4_ERROR_INODE EXT4_ERROR_FILE ext4_grp_locked_error ext4_error_inode_err
    ext4_handle_dirty_metadata ext4_journal_get_write_access ext4_journal_start ext4_journal_stop
    XFS_ERROR_REPORT XFS_CORRUPTION_ERROR ASSERT XFS_IS_CORRUPT gfs2_assert gfs2_assert_withdraw
    gfs2_consist might_sleep might_sleep_if might_fault
  `),
]);

/** Macros whose expansion carries __LINE__ into the code (directly or via the bug table). */
export const LINE_MACROS = new Set([
  // through the __bug_table (WARN/BUG) or a lockdep/might_sleep check
  ...words(`
    WARN WARN_ON WARN_ONCE WARN_ON_ONCE WARN_TAINT WARN_TAINT_ONCE BUG BUG_ON might_resched cant_sleep
    cant_migrate lockdep_assert_held lockdep_assert_held_write lockdep_assert_held_read lockdep_assert
    lockdep_assert_irqs_disabled lockdep_assert_irqs_enabled RCU_LOCKDEP_WARN rcu_dereference_check
    rcu_dereference_protected xfs_warn xfs_alert_tag f2fs_bug_on
  `),
  ...LINE_ARGUMENT_MACROS,
]);

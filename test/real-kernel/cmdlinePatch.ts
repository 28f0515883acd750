// The smallest real livepatch of the 6.1 tree, shared by the VM end to end and the
// screenshot script: fs/proc/cmdline.c's cmdline_proc_show() prints a marker line
// instead of the command line, so `cat /proc/cmdline` shows whether it is live.

/** The patch, against Debian's linux-source-6.1, replacing /proc/cmdline's output with `marker`. */
export function cmdlineMarkerPatch(marker: string): string {
  return `--- a/fs/proc/cmdline.c
+++ b/fs/proc/cmdline.c
@@ -6,8 +6,7 @@
 
 static int cmdline_proc_show(struct seq_file *m, void *v)
 {
-\tseq_puts(m, saved_command_line);
-\tseq_putc(m, '\\n');
+\tseq_puts(m, "${marker}\\n");
 \treturn 0;
 }
 
`;
}

// kpatch-build / create-diff-object / klp-build / objtool-klp-diff (and kpatch CLI, dmesg)
// output lines → structured events, with the engine's rule id where a message corresponds
// to one. Each format has a recording in client/src/commands/fixtures/build-output/. Pure functions.

export type BuildTool = 'kpatch-build' | 'create-diff-object' | 'klp-build' | 'objtool' | 'kpatch' | 'kernel' | 'compiler';

export type BuildEventKind =
  | 'stage'
  | 'changed-function'
  | 'new-function'
  | 'patched-objects'
  | 'success'
  | 'error'
  | 'warning'
  | 'notice'
  | 'info';

export interface BuildEvent {
  kind: BuildEventKind;
  severity: 'error' | 'warning' | 'info';
  tool: BuildTool;
  /** The message without prefixes ("ERROR: ", "<obj>: ", "error: klp-build: "). */
  message: string;
  /** The line as printed. */
  line: string;
  /** Rule id from the engine's catalog when the message corresponds to one. */
  rule?: string;
  /** Object file (fs/proc/cmdline.o) or patch object (vmlinux, a module). */
  object?: string;
  function?: string;
  /** compiler diagnostics: the source file as the compiler printed it, 1-based line and column. */
  file?: string;
  lineNumber?: number;
  column?: number;
  section?: string;
  symbol?: string;
  /** stage events: the stage's name ("Building original source"). */
  stage?: string;
  /** The .ko being built, or the module a kernel/kpatch line is about. */
  module?: string;
  /** patched-objects events. */
  objects?: string[];
  /** The build log the message points to. */
  logFile?: string;
  /** A summary line ("N error(s) encountered", "N function(s) can not be patched"). */
  aggregate?: boolean;
  count?: number;
  /** Ends the build (kpatch-build die(), klp-build error, unreconcilable difference). */
  fatal?: boolean;
}

/** Which rule a section that kpatch-build refused to include belongs to. */
export function ruleForSection(section: string): string | undefined {
  const s = section;
  if (/^\.(init|meminit|cpuinit)\.|^\.initcall|^\.init\.setup|^\.x86_cpu_dev\.init/.test(s)) return 'init-section';
  if (/^\.(exit|memexit|cpuexit)\./.test(s)) return 'exit-section';
  if (/^\.data\.?\.once\b/.test(s)) return 'special-static';
  if (/^\.(data|bss|rodata)\.\./.test(s)) return 'special-data-section';
  if (/^\.(data|bss|rodata)\.[^.]/.test(s)) return 'data-global-changed';
  if (/^\.(sched|spinlock|lock|noinstr|cpuidle|kprobes|entry|irqentry|softirqentry|head|ref)\.text\b/.test(s)) return 'section-attr-func';
  if (s === '__jump_table') return 'jump-label';
  if (s === '.static_call_sites') return 'static-call';
  return undefined;
}

const SYSCALL_INNER = /^(__do_sys_|__se_sys_|__do_compat_sys_|__se_compat_sys_)/;

const KPATCH_STAGES = [
  'Testing patch file(s)',
  'Reading special section data',
  'Building original source',
  'Building patched source',
  'Extracting new and modified ELF sections',
  'Building patch module',
];
const KLP_STAGES = [
  'Validating patch(es)',
  'Building original kernel',
  'Copying original object files',
  'Fixing patch(es)',
  'Building patched kernel',
  'Copying patched object files',
  'Diffing objects',
];

type Partial_ = Omit<BuildEvent, 'line' | 'tool' | 'message'> & { message?: string; tool?: BuildTool };

interface Matcher {
  re: RegExp;
  tool: BuildTool;
  make: (m: RegExpExecArray) => Partial_;
}

const err = (rule?: string, extra: Partial_ | object = {}): Partial_ => ({ kind: 'error', severity: 'error', rule, ...extra }) as Partial_;
const warn = (rule?: string, extra: Partial_ | object = {}): Partial_ =>
  ({ kind: 'warning', severity: 'warning', rule, ...extra }) as Partial_;
const info = (extra: Partial_ | object = {}): Partial_ => ({ kind: 'info', severity: 'info', ...extra }) as Partial_;

// Matched against the message body, after "ERROR: " and an object prefix were taken off.
// Order matters: specific before generic.
const BODY: Matcher[] = [
  {
    re: /^(\d+) error\(s\) encountered$/,
    tool: 'kpatch-build',
    make: (m) => err(undefined, { aggregate: true, count: Number(m[1]), fatal: true }),
  },
  {
    re: /no functional changes found|no changed objects found/,
    tool: 'kpatch-build',
    make: () => err('no-functional-change', { fatal: true }),
  },
  { re: /^no changes detected/, tool: 'klp-build', make: () => err('no-functional-change', { fatal: true }) },
  {
    re: /^(.+): unsupported patch to (lib\/|assembly): (\S+)$/,
    tool: 'kpatch-build',
    make: (m) => err('unsupported-file', { symbol: m[3], file: m[3] }),
  },
  { re: /^Unsupported changes detected$/, tool: 'kpatch-build', make: () => err('unsupported-file', { fatal: true }) },
  { re: /unsupported patch to (\S+)/, tool: 'klp-build', make: (m) => err('unsupported-file', { symbol: m[1], file: m[1] }) },
  { re: /^(.+) file failed to apply$/, tool: 'kpatch-build', make: () => err(undefined, { fatal: true }) },
  {
    re: /CONFIG_DEBUG_INFO' enabled|kernel option '(CONFIG_\w+)' not supported|doesn't support klp replace/,
    tool: 'kpatch-build',
    make: () => err(undefined, { fatal: true }),
  },
  { re: /^(gcc|clang)\/kernel version mismatch/, tool: 'kpatch-build', make: () => err() },
  { re: /Version disagreement for symbol (\S+)/, tool: 'kpatch-build', make: (m) => err('exported-abi', { symbol: m[1] }) },
  { re: /references (\S+) with invalid version/, tool: 'kpatch-build', make: (m) => err('exported-abi', { symbol: m[1] }) },
  { re: /altered exported kernel symbols cannot be loaded/, tool: 'kpatch-build', make: () => err('exported-abi', { fatal: true }) },
  { re: /^Undefined symbols: (.*)$/, tool: 'kpatch-build', make: (m) => err(undefined, { symbol: m[1].trim(), fatal: true }) },
  { re: /^(\S+) SIGSEGV/, tool: 'kpatch-build', make: () => err(undefined, { fatal: true }) },
  {
    re: /changed section (\S+) not selected for inclusion/,
    tool: 'create-diff-object',
    make: (m) => err(ruleForSection(m[1]), { section: m[1] }),
  },
  { re: /changed section (\S+) is part of a section group/, tool: 'create-diff-object', make: (m) => err(undefined, { section: m[1] }) },
  { re: /new\/changed group sections are not supported/, tool: 'create-diff-object', make: () => err() },
  {
    re: /data section (\S+) selected for inclusion/,
    tool: 'create-diff-object',
    make: (m) => err(ruleForSection(m[1]) ?? 'data-global-changed', { section: m[1] }),
  },
  {
    re: /^(\d+) unsupported section change\(s\)$/,
    tool: 'create-diff-object',
    make: (m) => err(undefined, { aggregate: true, count: Number(m[1]) }),
  },
  { re: /unreconcilable difference$/, tool: 'create-diff-object', make: () => err(undefined, { aggregate: true, fatal: true }) },
  {
    re: /function (\S+) (?:doesn't have patchable function entry|has no fentry\/mcount call), unable to patch/,
    tool: 'create-diff-object',
    make: (m) => err(SYSCALL_INNER.test(m[1]) ? 'syscall' : 'notrace', { function: m[1] }),
  },
  {
    re: /^(\d+) function\(s\) can not be patched$/,
    tool: 'create-diff-object',
    make: (m) => err('notrace', { aggregate: true, count: Number(m[1]) }),
  },
  {
    re: /reference to static local variable (\S+) in (\S+) was removed/,
    tool: 'create-diff-object',
    make: (m) => err('static-local-removed', { symbol: m[1], function: m[2] }),
  },
  {
    re: /static local (\S+) has been correlated with (\S+), but patched (\S+) is missing a reference/,
    tool: 'create-diff-object',
    make: (m) => err('static-local-removed', { symbol: m[1], function: m[3] }),
  },
  { re: /symbol changed sections: (\S+)/, tool: 'create-diff-object', make: (m) => err('section-attr-func', { symbol: m[1] }) },
  { re: /object size mismatch: (\S+)/, tool: 'create-diff-object', make: (m) => err('data-size-changed', { symbol: m[1] }) },
  { re: /symbol info mismatch: (\S+)/, tool: 'create-diff-object', make: (m) => err(undefined, { symbol: m[1] }) },
  { re: /(\S+) section header details differ from (\S+)/, tool: 'create-diff-object', make: (m) => err(undefined, { section: m[1] }) },
  {
    re: /Found a jump label at (\S+?)\(\)\+0x([0-9a-f]+), using key ([^\s,.]+)/,
    tool: 'create-diff-object',
    make: (m) => err('jump-label', { function: m[1], symbol: m[3] }),
  },
  {
    re: /Found a static call at (\S+?)\(\)\+0x([0-9a-f]+), using key ([^\s,.]+)/,
    tool: 'create-diff-object',
    make: (m) => err('static-call', { function: m[1], symbol: m[3] }),
  },
  {
    re: /Found (\d+) unsupported (jump label|static call)\(s\)/,
    tool: 'create-diff-object',
    make: (m) => err(m[2] === 'jump label' ? 'jump-label' : 'static-call', { aggregate: true, count: Number(m[1]), fatal: true }),
  },
  { re: /unsupported sibling call at (\S+?)\(\)/, tool: 'create-diff-object', make: (m) => err(undefined, { function: m[1] }) },
];

// Whole lines, tried before the ERROR/prefix handling.
const LINES: Matcher[] = [
  { re: /^Using (source directory|cache) at (.+)$/, tool: 'kpatch-build', make: (m) => info({ kind: 'stage', stage: `Using ${m[1]}` }) },
  {
    re: /^Patched objects:\s*(.*)$/,
    tool: 'kpatch-build',
    make: (m) => info({ kind: 'patched-objects', objects: m[1].split(/\s+/).filter(Boolean) }),
  },
  {
    re: /^Building patch module: (\S+\.ko)$/,
    tool: 'kpatch-build',
    make: (m) => info({ kind: 'stage', stage: 'Building patch module', module: m[1] }),
  },
  { re: /^SUCCESS$/, tool: 'kpatch-build', make: () => info({ kind: 'success' }) },
  {
    re: /^(\S+?): (changed|new) function: (\S+)$/,
    tool: 'create-diff-object',
    make: (m) => info({ kind: m[2] === 'changed' ? 'changed-function' : 'new-function', object: m[1], function: m[3] }),
  },
  { re: /^(\S+?): found callback: (\S+)$/, tool: 'create-diff-object', make: (m) => info({ object: m[1], symbol: m[2] }) },
  {
    re: /^(\S+?): ignoring (section|function): (\S+)$/,
    tool: 'create-diff-object',
    make: (m) => info(m[2] === 'section' ? { object: m[1], section: m[3] } : { object: m[1], function: m[3] }),
  },
  {
    re: /^(?:(\S+?): )?WARNING: unable to correlate static local variable (\S+) used by (\S+), assuming variable is new/,
    tool: 'create-diff-object',
    make: (m) => warn('static-local-new', { object: m[1], symbol: m[2], function: m[3] }),
  },
  {
    re: /^(?:(\S+?): )?function '(\S+)' marked with KPATCH_FORCE_UNSAFE!?$/,
    tool: 'create-diff-object',
    make: (m) => warn(undefined, { object: m[1], function: m[2] }),
  },
  {
    re: /^(?:(\S+?): )?NOTICE: no change detected in function (\S+), unnecessary KPATCH_IGNORE_FUNCTION/,
    tool: 'create-diff-object',
    make: (m) => ({ kind: 'notice', severity: 'info', object: m[1], function: m[2] }),
  },
  // objtool klp diff (klp-build)
  { re: /changed data: (\S+)/, tool: 'objtool', make: (m) => err('data-global-changed', { symbol: m[1] }) },
  { re: /no correlation: (\S+)/, tool: 'objtool', make: (m) => warn(undefined, { symbol: m[1] }) },
  {
    re: /(?:^|\s)(\S+?)(?:\(\))?: disabling unsupported pr_debug\(\)/,
    tool: 'objtool',
    make: (m) => warn('special-static', { function: m[1] }),
  },
  {
    re: /(?:^|\s)(\S+?)(?:\(\))?: disabling unsupported tracepoint (\S+)/,
    tool: 'objtool',
    make: (m) => warn(undefined, { function: m[1], symbol: m[2] }),
  },
  {
    re: /(?:^|\s)(\S+?)(?:\(\))?\+0x[0-9a-f]+: unsupported static branch key (\S+?)\.?(?:\s|$)/,
    tool: 'objtool',
    make: (m) => err('jump-label', { function: m[1], symbol: m[2], fatal: true }),
  },
  {
    re: /(?:^|\s)(\S+?)(?:\(\))?\+0x[0-9a-f]+: unsupported static call key (\S+?)\.?(?:\s|$)/,
    tool: 'objtool',
    make: (m) => err('static-call', { function: m[1], symbol: m[2], fatal: true }),
  },
  // kpatch CLI (load/unload)
  {
    re: /^loading patch module: (\S+)$/,
    tool: 'kpatch',
    make: (m) => info({ kind: 'stage', stage: 'Loading patch module', module: m[1] }),
  },
  {
    re: /^waiting \(up to (\d+) seconds\) for patch transition to complete/,
    tool: 'kpatch',
    make: () => info({ kind: 'stage', stage: 'Waiting for the transition' }),
  },
  { re: /^transition complete \((\d+) seconds?\)$/, tool: 'kpatch', make: (m) => info({ count: Number(m[1]) }) },
  { re: /^patch transition has stalled!$/, tool: 'kpatch', make: () => warn(undefined) },
  { re: /^kpatch: (?:error: )?(.*)$/, tool: 'kpatch', make: () => err(undefined, { fatal: true }) },
  // kernel log (dmesg), after an optional [timestamp]
  { re: /livepatch: enabling patch '(\S+)'$/, tool: 'kernel', make: (m) => info({ module: m[1] }) },
  { re: /livepatch: '(\S+)': starting (patching|unpatching) transition$/, tool: 'kernel', make: (m) => info({ module: m[1] }) },
  { re: /livepatch: '(\S+)': (patching|unpatching) complete$/, tool: 'kernel', make: (m) => info({ module: m[1] }) },
  { re: /livepatch: signaling remaining tasks$/, tool: 'kernel', make: () => warn(undefined) },
  { re: /livepatch: forcing remaining tasks to the patched state$/, tool: 'kernel', make: () => warn(undefined) },
  {
    re: /livepatch: symbol '(\S+)' not found in symbol table|livepatch: unresolvable ambiguity for symbol '(\S+)'/,
    tool: 'kernel',
    make: (m) => err(undefined, { symbol: m[1] ?? m[2] }),
  },
  {
    re: /livepatch: (pre-patch callback failed for object '(\S+)'|failed to enable patch '(\S+)')/,
    tool: 'kernel',
    make: (m) => err(undefined, { object: m[2], module: m[3] }),
  },
  {
    re: /Livepatch patch \((\S+)\) is not compatible with the already installed livepatches/,
    tool: 'kernel',
    make: (m) => err(undefined, { module: m[1] }),
  },
  { re: /^(\S+): tainting kernel with TAINT_LIVEPATCH$/, tool: 'kernel', make: (m) => info({ module: m[1] }) },
  {
    re: /^(\S+): disagrees about version of symbol (\S+)$/,
    tool: 'kernel',
    make: (m) => err('exported-abi', { module: m[1], symbol: m[2] }),
  },
];

const STAGE_LINE = new Map<string, BuildTool>([
  ...KPATCH_STAGES.map((s) => [s, 'kpatch-build'] as const),
  ...KLP_STAGES.map((s) => [s, 'klp-build'] as const),
]);

function clean(raw: string): string {
  return raw
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
    .replace(/\r$/, '')
    .trimEnd();
}

function build(line: string, tool: BuildTool, message: string, p: Partial_): BuildEvent {
  const ev = { ...p, tool: p.tool ?? tool, message: p.message ?? message, line } as BuildEvent;
  for (const k of Object.keys(ev) as (keyof BuildEvent)[]) if (ev[k] === undefined) delete ev[k];
  return ev;
}

/** Parse one output line; undefined for lines that carry nothing for the user (make output, blank). */
export function parseBuildLine(raw: string): BuildEvent | undefined {
  const line = clean(raw);
  if (!line.trim()) return undefined;
  const text = line.replace(/^\[\s*\d+\.\d+\]\s*/, ''); // dmesg timestamp

  const stageTool = STAGE_LINE.get(text.replace(/\.\.\.$/, ''));
  if (stageTool) return build(line, stageTool, text, info({ kind: 'stage', stage: text.replace(/\.\.\.$/, '') }));
  const klpModule = /^Building patch module: (\S+)$/.exec(text);
  if (klpModule && !klpModule[1].endsWith('.ko'))
    return build(line, 'klp-build', text, info({ kind: 'stage', stage: 'Building patch module', module: klpModule[1] }));

  // die(): "ERROR: <msg>. Check <log> for more details."
  const die = /^ERROR: (.*?)\.? Check (\S+) for more details\.$/.exec(text);
  if (die) {
    const inner = classifyBody(die[1]);
    return build(line, inner?.tool ?? 'kpatch-build', die[1], { ...(inner?.p ?? err()), logFile: die[2], fatal: true });
  }
  // gcc/clang: "<file>:<line>:<col>: error: <msg>" (also from the kernel builds inside kpatch-build's log).
  const cc = /^(\S+?\.[ch]):(\d+):(?:(\d+):)? (fatal error|error|warning): (.*)$/.exec(text);
  if (cc) {
    const extra = { file: cc[1], lineNumber: Number(cc[2]), column: cc[3] ? Number(cc[3]) : undefined };
    return build(line, 'compiler', cc[5], cc[4] === 'warning' ? warn(undefined, extra) : err(undefined, extra));
  }
  // klp-build: "error: klp-build: <msg>"
  const klp = /^error: klp-build: (.*)$/.exec(text);
  if (klp) {
    const inner = classifyBody(klp[1]);
    return build(line, 'klp-build', klp[1], { ...(inner?.p ?? err()), tool: 'klp-build', fatal: true });
  }
  // create-diff-object: "[path/]create-diff-object: ERROR: <obj>: <func>: <line>: <msg>" (internal ERROR())
  const internal = /^(?:\S*\/)?create-diff-object: ERROR: (\S+): (\w+): (\d+): (.*)$/.exec(text);
  if (internal) {
    const inner = classifyBody(internal[4]);
    return build(line, 'create-diff-object', internal[4], {
      ...(inner?.p ?? err()),
      tool: 'create-diff-object',
      object: internal[1],
      fatal: true,
    });
  }
  // errx(): "[path/]create-diff-object: unreconcilable difference"
  const errx = /^(?:\S*\/)?create-diff-object: (.*)$/.exec(text);
  if (errx) {
    const inner = classifyBody(errx[1]);
    return build(line, 'create-diff-object', errx[1], { ...(inner?.p ?? err()), tool: 'create-diff-object', fatal: true });
  }
  // "ERROR: [<obj>: ]<msg>" (kpatch-build warn(), create-diff-object log_error(), DIFF_FATAL)
  const error = /^(?:(\S+?\.o): )?ERROR: (.*)$/.exec(text);
  if (error) {
    let body = error[2];
    let object = error[1];
    const obj = /^(\S+?\.o|vmlinux(?:\.o)?): (.*)$/.exec(body);
    if (obj && !/^\S+\.o: (changed|new) function/.test(body)) {
      object = obj[1];
      body = obj[2];
    }
    const inner = classifyBody(body);
    return build(line, inner?.tool ?? 'kpatch-build', body, { ...(inner?.p ?? err()), object });
  }
  for (const m of LINES) {
    const r = m.re.exec(text);
    if (r) return build(line, m.tool, text, m.make(r));
  }
  // Bare messages, and older create-diff-object's "<obj>: changed section ..." form.
  const prefixed = /^(\S+?\.o): (.*)$/.exec(text);
  const body = classifyBody(prefixed ? prefixed[2] : text);
  if (body) return build(line, body.tool, prefixed ? prefixed[2] : text, { ...body.p, object: prefixed?.[1] });
  return undefined;
}

function classifyBody(body: string): { tool: BuildTool; p: Partial_ } | undefined {
  for (const m of BODY) {
    const r = m.re.exec(body);
    if (r) return { tool: m.tool, p: m.make(r) };
  }
  return undefined;
}

/**
 * Streaming parser: feed stdout/stderr chunks as they arrive. create-diff-object's
 * log_error() lines carry no object name; the object's summary line that follows
 * ("ERROR: foo.o: 2 unsupported section change(s)") fills it into the events before it.
 */
export class BuildOutputParser {
  private partial = '';
  private pending: BuildEvent[] = [];
  readonly events: BuildEvent[] = [];

  push(chunk: string): BuildEvent[] {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return this.take(lines);
  }

  end(): BuildEvent[] {
    const rest = this.partial;
    this.partial = '';
    return rest ? this.take([rest]) : [];
  }

  private take(lines: string[]): BuildEvent[] {
    const out: BuildEvent[] = [];
    for (const l of lines) {
      const ev = parseBuildLine(l);
      if (!ev) continue;
      if (ev.tool === 'create-diff-object' && ev.severity === 'error') {
        if (!ev.object) this.pending.push(ev);
        else if (ev.aggregate) {
          for (const p of this.pending) p.object = ev.object;
          this.pending = [];
        }
      } else if (ev.kind === 'stage') this.pending = [];
      out.push(ev);
    }
    this.events.push(...out);
    return out;
  }
}

/** Parse a whole log at once. */
export function parseBuildOutput(text: string): BuildEvent[] {
  const p = new BuildOutputParser();
  p.push(text);
  p.end();
  return p.events;
}

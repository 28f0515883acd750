// Scratch driver: analyse, generate a patched-unit module and build it on the host.
import * as fs from 'node:fs';
import { analyzePatches } from '../server/src/engine/analyze';
import { generatePatchedUnit } from '../server/src/engine/generate/patchedUnit';
import { KernelTree } from '../server/src/engine/tree/kernelTree';
import { createParser } from '../server/src/engine/parse/parser';
import { parseSymversObjects, Kallsyms } from '../server/src/engine/generate/symbols';
import { buildOnHost } from '../server/src/build/hostBuild';

const [patch, tree, headers, out, kallsyms] = process.argv.slice(2);
(async () => {
  const r = await analyzePatches([{ name: patch, text: fs.readFileSync(patch) }], { tree });
  const exported = parseSymversObjects(fs.readFileSync(`${headers}/Module.symvers`, 'utf8'));
  const ks = kallsyms ? new Kallsyms(fs.readFileSync(kallsyms, 'utf8')) : null;
  const m = generatePatchedUnit(r, { name: 'livepatch_try', tree: KernelTree.open(tree), parser: await createParser(), exported, kallsyms: ks });
  console.log(m.notes.join('\n'));
  const b = await buildOnHost({ headersDir: headers, dir: out, module: m, exported, kallsyms: ks });
  console.log(b.seconds, b.elf.symbols.map((s) => s.klpName), b.elf.sections.map((s) => s.name));
})().catch((e) => { console.error(e.message); process.exit(1); });

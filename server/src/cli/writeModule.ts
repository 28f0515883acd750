// Writes the generated module's files into OUTDIR without following symlinks: OUTDIR may
// be shared or prepared by someone else, and a planted `Kbuild -> ~/.bashrc` must not turn
// "write the module" into "overwrite that file". Every name is checked before anything is
// written; each file is created under a fresh name (O_EXCL | O_NOFOLLOW) and renamed into
// place, and rename replaces a directory entry, never what a symlink points to.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export class WriteModuleError extends Error {}

export function writeModuleFiles(dir: string, files: Record<string, string>): string[] {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new WriteModuleError(`cannot create ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!fs.statSync(dir).isDirectory()) throw new WriteModuleError(`${dir} is not a directory`);
  const names = Object.keys(files);
  for (const name of names) {
    // Plain names, or relative paths of plain names (the patched-unit module's `src/<dir>/x.h`).
    const parts = name.split('/');
    if (!name || parts.some((p) => !p || p === '.' || p === '..' || p !== path.basename(p)))
      throw new WriteModuleError(`refusing to write '${name}': not a plain relative file name`);
    for (let k = 1; k < parts.length; k++) {
      const sub = path.join(dir, ...parts.slice(0, k));
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(sub);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new WriteModuleError(`cannot check ${sub}: ${(err as NodeJS.ErrnoException).code}`);
      }
      if (st?.isSymbolicLink())
        throw new WriteModuleError(
          `refusing to write under ${sub}: it is a symlink (to ${fs.readlinkSync(sub)}); remove it or choose another directory`,
        );
      if (st && !st.isDirectory()) throw new WriteModuleError(`refusing to write under ${sub}: it exists and is not a directory`);
    }
    const dest = path.join(dir, name);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new WriteModuleError(`cannot check ${dest}: ${(err as NodeJS.ErrnoException).code}`);
    }
    if (st?.isSymbolicLink())
      throw new WriteModuleError(
        `refusing to write ${dest}: it is a symlink (to ${fs.readlinkSync(dest)}); remove it or choose another directory`,
      );
    if (st && !st.isFile()) throw new WriteModuleError(`refusing to write ${dest}: it exists and is not a regular file`);
  }
  const written: string[] = [];
  for (const name of names) {
    const dest = path.join(dir, name);
    const parts = name.split('/');
    for (let k = 1; k < parts.length; k++) {
      const sub = path.join(dir, ...parts.slice(0, k));
      if (!fs.existsSync(sub)) fs.mkdirSync(sub);
    }
    const tmp = path.join(path.dirname(dest), `.${path.basename(name)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
    try {
      fs.writeFileSync(fd, files[name]);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    fs.renameSync(tmp, dest);
    written.push(dest);
  }
  return written;
}

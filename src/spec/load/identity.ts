// Canonicalise who the process runs as: user/group names → numeric ids from the rootfs's
// /etc/passwd and /etc/group (the host's for the default rootfs), plus the user's home.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CanonicalSpec, ContainerSpec, IdRef } from '../types.js';
import { report, type LoadContext } from './context.js';
import { closest } from './suggest.js';

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

export function parsePasswd(text: string): PasswdEntry[] {
  return text.split('\n').flatMap((l) => {
    const f = l.split(':');
    if (f.length < 7 || l.startsWith('#')) return [];
    return [{ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' }];
  });
}

export function parseGroup(text: string): GroupEntry[] {
  return text.split('\n').flatMap((l) => {
    const f = l.split(':');
    if (f.length < 4 || l.startsWith('#')) return [];
    return [{ name: f[0], gid: Number(f[2]), members: f[3] ? f[3].split(',').map((s) => s.trim()) : [] }];
  });
}

const readOr = (p: string) => { try { return readFileSync(p, 'utf8'); } catch { return undefined; } };
const isNumeric = (r: IdRef) => typeof r === 'number' || /^[0-9]+$/.test(r);

export interface Identity { uid: number; gid: number; groups: number[]; home: string }

export function canonIdentity(spec: ContainerSpec, rootfs: CanonicalSpec['rootfs'], ctx: LoadContext): Identity {
  const p = spec.process ?? {};
  const etc = rootfs.kind === 'dir' ? join(rootfs.path, 'etc') : rootfs.kind === 'default' ? join(ctx.opts.hostRoot ?? '/', 'etc') : undefined;
  const needsLookup = [p.user, p.group, ...(p.groups ?? [])].some((r) => r !== undefined && !isNumeric(r));
  let passwd: PasswdEntry[] | undefined;
  let groups: GroupEntry[] | undefined;
  const image = rootfs.kind === 'image' ? ctx.image?.view : undefined;
  // An image not read yet (plain validate): names are looked up once it is, at run or plan time.
  if (rootfs.kind === 'image' && !image) {
    const num = (r: IdRef | undefined) => (r !== undefined && isNumeric(r) ? Number(r) : undefined);
    const uid = num(p.user) ?? 0;
    return { uid, gid: num(p.group) ?? 0, groups: (p.groups ?? []).map(num).filter((g): g is number => g !== undefined), home: uid === 0 ? '/root' : '/' };
  }
  const loadDbs = () => {
    if (!etc && !image) return;
    const pt = image ? image.readFile('/etc/passwd') : readOr(join(etc!, 'passwd'));
    const gt = image ? image.readFile('/etc/group') : readOr(join(etc!, 'group'));
    passwd = pt === undefined ? undefined : parsePasswd(pt);
    groups = gt === undefined ? undefined : parseGroup(gt);
  };
  loadDbs();
  const where = etc ?? (image ? `image ${image.name}: /etc` : 'the image');
  const noDb = (field: string, name: string, db: string) => report(ctx, field, `cannot look up '${name}': no ${where}/${db}`,
    rootfs.kind === 'image' && !image ? 'names are looked up in the image once it is pulled; give a numeric id to check without it' : 'give a numeric id, or add the entry to the rootfs');

  // user
  let uid = 0;
  let pwEntry: PasswdEntry | undefined;
  if (p.user !== undefined) {
    if (isNumeric(p.user)) {
      uid = Number(p.user);
      pwEntry = passwd?.find((e) => e.uid === uid);
    } else if (!passwd) {
      if (needsLookup) noDb('process.user', String(p.user), 'passwd');
    } else {
      pwEntry = passwd.find((e) => e.name === p.user);
      if (pwEntry) uid = pwEntry.uid;
      else report(ctx, 'process.user', `no user '${p.user}' in ${where}/passwd`, hintNear(String(p.user), passwd.map((e) => e.name), 'users'));
    }
  } else pwEntry = passwd?.find((e) => e.uid === 0);

  // primary group: given, else the user's, else 0
  const lookupGroup = (r: IdRef, field: string): number | undefined => {
    if (isNumeric(r)) return Number(r);
    if (!groups) { noDb(field, String(r), 'group'); return undefined; }
    const g = groups.find((e) => e.name === r);
    if (!g) report(ctx, field, `no group '${r}' in ${where}/group`, hintNear(String(r), groups.map((e) => e.name), 'groups'));
    return g?.gid;
  };
  const gid = p.group !== undefined ? lookupGroup(p.group, 'process.group') ?? 0 : pwEntry?.gid ?? 0;

  // supplementary: given, plus the named user's memberships in /etc/group
  const sup = (p.groups ?? []).map((r, i) => lookupGroup(r, `process.groups.${i}`)).filter((g): g is number => g !== undefined);
  if (pwEntry && p.user !== undefined && !isNumeric(p.user) && groups) {
    for (const g of groups) if (g.members.includes(pwEntry.name)) sup.push(g.gid);
  }
  const uniq = [...new Set(sup)];
  const home = pwEntry?.home ?? (uid === 0 ? '/root' : '/');
  return { uid, gid, groups: uniq, home };
}

function hintNear(name: string, known: string[], what: string): string {
  const c = closest(name, known);
  return c ? `did you mean '${c}'?` : `the rootfs has ${known.length} ${what}; give a numeric id if it is not listed`;
}

import { describe, expect, it } from 'vitest';
import type { RegistryFile } from '../src/file.js';
import { type Entry, FORMAT, type OwnerRecord } from '../src/index.js';
import { bootIdOf, classify, onThisHost, withIdentity } from '../src/verdict.js';

// The rules alone, without processes or files: what a registry file means for the one who reads it.
const BOOT = '3f1c6a2e-1111-4222-8333-444455556666';
const me: OwnerRecord = { pid: 100, startToken: `${BOOT}:5000`, hostname: 'devbox' };
const entry: Entry = { pid: 7, startToken: `${BOOT}:10`, pgid: 7, session: 's', type: 't', spawnedAt: 1, command: 'x' };
const file = (owner: OwnerRecord | null, entries: Entry[] = []): RegistryFile => ({
  format: FORMAT,
  version: 1,
  owner,
  updatedAt: 1,
  entries,
});

describe('bootIdOf', () => {
  it.each([
    [`${BOOT}:123`, BOOT],
    ['btime-1700000000:42', 'btime-1700000000'],
    ['unknown-boot:42', null], // a hidden boot id proves nothing
    ['no-ticks', null],
    [`${BOOT}:12a`, null],
    ['', null],
  ])('%j -> %j', (token, boot) => {
    expect(bootIdOf(token)).toBe(boot);
  });
});

describe('onThisHost', () => {
  it('same hostname, or the same boot id whatever the hostname', () => {
    expect(onThisHost({ pid: 1, startToken: 'x', hostname: 'devbox' }, me, BOOT)).toBe(true);
    expect(onThisHost({ pid: 1, startToken: `${BOOT}:1`, hostname: 'renamed' }, me, BOOT)).toBe(true);
    expect(onThisHost({ pid: 1, startToken: 'another-boot:1', hostname: 'renamed' }, me, BOOT)).toBe(false);
    // Without a boot id of our own (macOS, Windows, a hidden boot id) only the hostname counts,
    // even for a token that happens to look like ours.
    expect(onThisHost({ pid: 1, startToken: `${BOOT}:1`, hostname: 'renamed' }, me, null)).toBe(false);
  });
});

describe('classify + withIdentity', () => {
  const dead = { pid: 55, startToken: `${BOOT}:20`, hostname: 'devbox' };
  it('missing or moved aside: take, nothing to adopt', () => {
    expect(classify(null, me, BOOT)).toEqual({ kind: 'take', adopt: [], previousOwner: null });
  });
  it('released (owner null): take when empty, leftovers when it names entries', () => {
    expect(classify(file(null), me, BOOT)).toEqual({ kind: 'take', adopt: [], previousOwner: null });
    expect(classify(file(null, [entry]), me, BOOT)).toEqual({
      kind: 'leftovers',
      previousOwner: null,
      entries: [entry],
    });
  });
  it('our own file (reopened in this process): take and adopt its entries', () => {
    expect(classify(file(me, [entry]), me, BOOT)).toEqual({ kind: 'take', adopt: [entry], previousOwner: null });
  });
  it('another host: not ours to judge', () => {
    const far = { pid: 55, startToken: 'other-boot:20', hostname: 'far' };
    expect(classify(file(far, [entry]), me, BOOT)).toEqual({ kind: 'other-host', owner: far, entries: [entry] });
  });
  it('this host: the owner is checked, then alive / dead-empty / dead-with-leftovers', () => {
    const pending = classify(file(dead, [entry]), me, BOOT);
    expect(pending).toEqual({ kind: 'check-owner', owner: dead, entries: [entry] });
    if (pending.kind !== 'check-owner') return;
    expect(withIdentity(pending, true)).toEqual({ kind: 'alive', owner: dead, entries: [entry] });
    expect(withIdentity(pending, false)).toEqual({ kind: 'leftovers', previousOwner: dead, entries: [entry] });
    expect(withIdentity({ ...pending, entries: [] }, false)).toEqual({ kind: 'take', adopt: [], previousOwner: dead });
  });
});

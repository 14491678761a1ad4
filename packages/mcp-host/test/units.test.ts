import { describe, expect, it } from 'vitest';
import { LineRing, LineSplitter } from '../src/backend/lines.js';
import { canAnswer, negotiateVersion, readHello } from '../src/protocol/capabilities.js';
import { aggregateLevel } from '../src/routing/features/logging.js';
import { Subscriptions } from '../src/routing/features/subscriptions.js';
import { Session } from '../src/routing/session.js';

describe('LineSplitter', () => {
  const split = (chunks: Array<string | Buffer>, max = 1000) => {
    const lines: string[] = [];
    const overflows: number[] = [];
    const s = new LineSplitter(
      max,
      (l) => lines.push(l),
      (n) => overflows.push(n),
    );
    for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c);
    return { lines, overflows };
  };
  it('joins lines split across chunks, drops CR and empty lines', () => {
    expect(split(['{"a":', '1}\r\n\n{"b"', ':2}\n', 'tail']).lines).toEqual(['{"a":1}', '{"b":2}']);
  });
  it('keeps a multi-byte character split between chunks', () => {
    const bytes = Buffer.from('é€\n');
    expect(split([bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)]).lines).toEqual(['é€']);
  });
  it('drops a line longer than the limit without buffering it, and goes on after its newline', () => {
    const { lines, overflows } = split(['x'.repeat(600), 'x'.repeat(600), 'y'.repeat(100), '\nok\n'], 1000);
    expect(lines).toEqual(['ok']);
    expect(overflows).toHaveLength(1);
  });
});

describe('LineRing', () => {
  it('keeps the last N lines, cut to a length, plus an unfinished line', () => {
    const ring = new LineRing(2, 5);
    expect(ring.push(Buffer.from('one\ntwo\nthree-long\npart'))).toEqual(['one', 'two', 'three-long']);
    expect(ring.tail()).toEqual(['three…', 'part']);
  });
  it('capacity 0 keeps nothing', () => {
    const ring = new LineRing(0);
    ring.push(Buffer.from('a\n'));
    expect(ring.tail()).toEqual([]);
  });
});

describe('capabilities', () => {
  it('negotiates the session version: its own when known and not newer than the backend, else the backend', () => {
    expect(negotiateVersion('2025-06-18', '2025-11-25')).toBe('2025-06-18');
    expect(negotiateVersion('2025-11-25', '2025-06-18')).toBe('2025-06-18');
    expect(negotiateVersion('1999-01-01', '2025-06-18')).toBe('2025-06-18');
  });
  it('checks the capability a server-to-client request needs, with elicitation modes and sampling tools', () => {
    expect(canAnswer({}, 'sampling/createMessage', {})).toBe(false);
    expect(canAnswer({ sampling: {} }, 'sampling/createMessage', {})).toBe(true);
    expect(canAnswer({ sampling: {} }, 'sampling/createMessage', { tools: [] })).toBe(false);
    expect(canAnswer({ sampling: { tools: {} } }, 'sampling/createMessage', { tools: [] })).toBe(true);
    expect(canAnswer({ elicitation: {} }, 'elicitation/create', {})).toBe(true);
    expect(canAnswer({ elicitation: {} }, 'elicitation/create', { mode: 'url' })).toBe(false);
    expect(canAnswer({ elicitation: { url: {} } }, 'elicitation/create', { mode: 'url' })).toBe(true);
    expect(canAnswer({ elicitation: { url: {} } }, 'elicitation/create', { mode: 'form' })).toBe(false);
    expect(canAnswer({}, 'roots/list', undefined)).toBe(false);
    expect(canAnswer({ roots: {} }, 'roots/list', undefined)).toBe(true);
  });
  it('reads a hello defensively', () => {
    expect(readHello(null)).toBeNull();
    expect(readHello({ protocolVersion: 1 })).toBeNull();
    expect(readHello({ protocolVersion: '2025-06-18', clientInfo: 'x' })).toMatchObject({
      capabilities: {},
      clientInfo: { name: 'unknown' },
    });
  });
});

describe('shared state', () => {
  const session = () => new Session(Math.random().toString(), 's', {} as never, () => {});
  it('counts subscriptions per URI across sessions', () => {
    const subs = new Subscriptions();
    const [a, b] = [session(), session()];
    expect(subs.add(a, 'u')).toBe(true);
    expect(subs.add(a, 'u')).toBe(false);
    expect(subs.add(b, 'u')).toBe(false);
    expect(subs.remove(a, 'u')).toBe(false);
    expect(subs.remove(a, 'u')).toBe(false);
    expect(subs.drop(b)).toEqual(['u']);
    expect(subs.uris()).toEqual([]);
  });
  it('aggregates log levels: most verbose; an unset session counts as debug once any level was sent', () => {
    const [a, b] = [session(), session()];
    expect(aggregateLevel([a, b], undefined)).toBeUndefined();
    a.level = 4;
    expect(aggregateLevel([a, b], undefined)).toBe(0);
    b.level = 2;
    expect(aggregateLevel([a, b], 0)).toBe(2);
    expect(aggregateLevel([], 2)).toBe(2);
  });
});

describe('LineSplitter limits', () => {
  it('a complete line over the limit in one chunk is dropped too', () => {
    const lines: string[] = [];
    const overflows: number[] = [];
    const s = new LineSplitter(
      10,
      (l) => lines.push(l),
      (n) => overflows.push(n),
    );
    s.push(Buffer.from(`${'z'.repeat(50)}\nshort\n`));
    expect(lines).toEqual(['short']);
    expect(overflows).toEqual([50]);
  });
  it('a large message in many small chunks arrives whole', () => {
    const lines: string[] = [];
    const s = new LineSplitter(
      1e8,
      (l) => lines.push(l),
      () => {},
    );
    const message = JSON.stringify({ data: 'q'.repeat(2_000_000) });
    const bytes = Buffer.from(`${message}\n`);
    for (let i = 0; i < bytes.length; i += 4096) s.push(bytes.subarray(i, i + 4096));
    expect(lines).toEqual([message]);
  });
});

import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import { createMcpHost, type McpHostOptions, NameFilter } from '../src/index.js';
import { everything, recorded, recorder, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

/** What a refused call rejects with in the SDK client (an McpError). */
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: Error & { code?: number; data?: unknown }) => error,
  );

/** Every page of tools/list, as the client sees it. */
async function allTools(client: Client): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor });
    pages++;
    names.push(...page.tools.map((tool) => tool.name));
    cursor = page.nextCursor;
  } while (cursor !== undefined && pages < 20);
  return { names, pages };
}

async function recording(extra: Parameters<typeof recorder>[3], flags: string[] = []) {
  const file = join(world.get().dir, 'received.jsonl');
  const w = await world.start({ servers: { rec: recorder(world.get().marker, file, flags, extra) } });
  return { w, received: () => recorded(file) };
}

describe('tool, prompt and resource filters', () => {
  it('a denied tool is absent from tools/list and its call is refused by the host, never reaching the backend', async () => {
    const { w, received } = await recording({ tools: { deny: ['crash', 'sl*'] } });
    const a = await w.connect('rec');
    const { names } = await allTools(a.client);
    expect(names).not.toContain('crash');
    expect(names).not.toContain('slow');
    expect(names).toContain('echo');
    const error = await refusal(a.client.callTool({ name: 'crash', arguments: {} }));
    expect(error?.code).toBe(-32602);
    expect(error?.message).toMatch(/tool "crash" .*MCP server "rec".*tools filter \(deny \["crash","sl\*"\]\)/);
    expect(error?.data).toMatchObject({ code: 'EFILTERED', server: 'rec', kind: 'tool', name: 'crash' });
    expect(await refusal(a.client.callTool({ name: 'slow', arguments: { ms: 10 } }))).toMatchObject({ code: -32602 });
    // A call that is let through does reach the backend, so the recording is live.
    expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'through' } }))).toBe('through');
    const calls = received().filter((m) => m.method === 'tools/call');
    expect(calls.map((m) => m.params.name)).toEqual(['echo']);
  });

  it('every page of a paginated tools/list is filtered', async () => {
    const { w } = await recording({ tools: { deny: ['e*', 'huge', 'pid'] } }, ['--paged']);
    const a = await w.connect('rec');
    const { names, pages } = await allTools(a.client);
    expect(pages).toBeGreaterThan(2); // 10 tools in pages of 3
    expect(names).toEqual(['slow', 'log', 'update', 'sample', 'roots', 'crash', 'changed']);
  });

  it('after notifications/tools/list_changed the re-list is filtered too', async () => {
    const { w } = await recording({ tools: { deny: ['crash*', 'huge'] } });
    const a = await w.connect('rec');
    let changed = 0;
    a.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    expect((await allTools(a.client)).names).not.toContain('crash');
    await a.client.callTool({ name: 'changed', arguments: { add: ['added-later', 'crash-later'] } });
    await waitFor(() => changed === 1, { what: 'tools/list_changed' });
    const { names } = await allTools(a.client);
    expect(names).toContain('added-later'); // a fresh list from the backend...
    expect(names).not.toContain('crash-later'); // ...filtered like the first
    expect(names).not.toContain('crash');
    expect(names).not.toContain('huge');
    expect(await refusal(a.client.callTool({ name: 'crash-later', arguments: {} }))).toMatchObject({ code: -32602 });
  });

  it('on a real server: a tools allow-list with a glob, a prompts deny-list and a resources allow-list', async () => {
    const w = await world.start({
      servers: {
        ev: everything(world.get().marker, {
          tools: { allow: ['get-*', 'echo'] },
          prompts: { deny: ['args-*'] },
          resources: { allow: ['demo://resource/static/document/f*.md'] },
        }),
      },
    });
    const a = await w.connect('ev');
    const { names } = await allTools(a.client);
    expect(names.length).toBeGreaterThan(3);
    expect(names.every((name) => name === 'echo' || name.startsWith('get-'))).toBe(true);
    expect(names).toContain('get-sum');
    expect(textOf(await a.client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }))).toMatch(/5/);
    const tool = await refusal(a.client.callTool({ name: 'trigger-long-running-operation', arguments: {} }));
    expect(tool?.code).toBe(-32602);
    expect(tool?.message).toMatch(/tool "trigger-long-running-operation".*"ev".*allow \["get-\*","echo"\]/);

    const prompts = (await a.client.listPrompts()).prompts.map((p) => p.name);
    expect(prompts).toContain('simple-prompt');
    expect(prompts).not.toContain('args-prompt');
    expect((await a.client.getPrompt({ name: 'simple-prompt' })).messages.length).toBeGreaterThan(0);
    const prompt = await refusal(a.client.getPrompt({ name: 'args-prompt', arguments: { city: 'x' } }));
    expect(prompt).toMatchObject({ code: -32602, data: { code: 'EFILTERED', kind: 'prompt', name: 'args-prompt' } });
    const completion = await refusal(
      a.client.complete({ ref: { type: 'ref/prompt', name: 'args-prompt' }, argument: { name: 'city', value: 'a' } }),
    );
    expect(completion).toMatchObject({ code: -32602, data: { kind: 'prompt', name: 'args-prompt' } });

    const uris = (await a.client.listResources()).resources.map((r) => r.uri);
    expect(uris).toEqual(['demo://resource/static/document/features.md']);
    const read = await a.client.readResource({ uri: 'demo://resource/static/document/features.md' });
    expect(read.contents.length).toBe(1);
    const hidden = 'demo://resource/static/document/instructions.md';
    expect(await refusal(a.client.readResource({ uri: hidden }))).toMatchObject({
      code: -32602,
      data: { code: 'EFILTERED', kind: 'resource', name: hidden },
    });
    expect(await refusal(a.client.subscribeResource({ uri: hidden }))).toMatchObject({ code: -32602 });
  });
});

describe('filter config is validated at construction', () => {
  const dir = '/tmp/mcp-host-validation';
  const make = (servers: unknown) => createMcpHost({ stateDir: dir, servers } as unknown as McpHostOptions).close();
  const cases: Array<[string, unknown, RegExp]> = [
    ['allow and deny', { allow: ['a'], deny: ['b'] }, /servers\.rec\.tools has both allow and deny; give one/],
    ['neither', {}, /servers\.rec\.tools must have allow or deny/],
    ['not an object', ['a'], /servers\.rec\.tools must be an object/],
    ['not a list', { deny: 'a' }, /servers\.rec\.tools\.deny must be an array of patterns, got "a"/],
    ['a number', { allow: ['a', 3] }, /servers\.rec\.tools\.allow\[1\] must be a non-empty string, got 3/],
    ['an empty pattern', { deny: [''] }, /servers\.rec\.tools\.deny\[0\] must be a non-empty string, got ""/],
    ['an unknown key', { deny: [], only: [] }, /servers\.rec\.tools\.only is not an option/],
  ];
  for (const [what, tools, message] of cases) {
    it(what, () => {
      expect(() => make({ rec: { command: 'node', tools } })).toThrow(TypeError);
      expect(() => make({ rec: { command: 'node', tools } })).toThrow(message);
    });
  }
  it('the same rule for prompts and resources', () => {
    expect(() => make({ rec: { command: 'node', prompts: { allow: [], deny: [] } } })).toThrow(
      /servers\.rec\.prompts has both allow and deny/,
    );
    expect(() => make({ rec: { command: 'node', resources: { allow: [1] } } })).toThrow(
      /servers\.rec\.resources\.allow\[0\] must be a non-empty string/,
    );
  });
});

describe('filters and reconfigure', () => {
  it('the same filter is an unchanged server; another filter a changed one', async () => {
    const host = createMcpHost({
      stateDir: world.get().dir,
      servers: { rec: { command: 'node', tools: { deny: ['a*'] } } },
    });
    try {
      expect(await host.reconfigure({ rec: { command: 'node', tools: { deny: ['a*'] } } })).toMatchObject({
        unchanged: ['rec'],
      });
      expect(await host.reconfigure({ rec: { command: 'node', tools: { allow: ['a*'] } } })).toMatchObject({
        changed: ['rec'],
      });
      expect(
        await host.reconfigure({ rec: { command: 'node', tools: { allow: ['a*'] }, requestTimeoutMs: 1 } }),
      ).toMatchObject({
        changed: ['rec'],
      });
    } finally {
      await host.close();
    }
  });
});

describe('NameFilter patterns', () => {
  it('* matches any run of characters; nothing else is special; whole names only', () => {
    const f = NameFilter.parse('t', { allow: ['get-*', 'a.b', 'x*y*z', 'file://*/[0-9]+?.md'] });
    expect(f.admits('get-')).toBe(true);
    expect(f.admits('get-sum')).toBe(true);
    expect(f.admits('forget-sum')).toBe(false);
    expect(f.admits('a.b')).toBe(true);
    expect(f.admits('axb')).toBe(false); // '.' is literal
    expect(f.admits('xyz')).toBe(true);
    expect(f.admits('x--y--z')).toBe(true);
    expect(f.admits('x--y--z!')).toBe(false);
    expect(f.admits('file://a/b/[0-9]+?.md')).toBe(true); // '*' crosses '/'; brackets, '+', '?' literal
    expect(f.admits('file://a/7.md')).toBe(false);
    const deny = NameFilter.parse('t', { deny: ['*secret*'] });
    expect(deny.admits('read')).toBe(true);
    expect(deny.admits('read-secret-file')).toBe(false);
    expect(NameFilter.parse('t', { allow: [] }).admits('anything')).toBe(false);
    expect(NameFilter.parse('t', { deny: [] }).admits('anything')).toBe(true);
    expect(JSON.stringify(deny)).toBe('{"deny":["*secret*"]}');
  });
});

import { join } from 'node:path';
import { captureWarnings, listenerWarning } from '@spawnguard/internal/testing';
import { describe, expect, it } from 'vitest';
import { recorder, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

describe('a throwing listener', () => {
  it('breaks neither the session nor the other listeners; it is a coded process warning naming the event', async () => {
    const w = await world.start({ servers: { rec: recorder(world.get().marker, join(world.get().dir, 'r.jsonl')) } });
    const bug = new Error('listener bug');
    w.host.events.on('sessionOpened', () => {
      throw bug;
    });
    const opened: string[] = [];
    w.host.events.on('sessionOpened', (e) => opened.push(e.server));
    const warnings = await captureWarnings();
    try {
      const a = await w.connect('rec');
      const { pid } = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} })));
      expect(pid).toBeGreaterThan(0);
      expect(opened).toEqual(['rec']);
      await warnings.settled();
      expect(warnings.entries()).toEqual([listenerWarning('@spawnguard/mcp-host', 'sessionOpened', bug)]);
    } finally {
      warnings.stop();
    }
  });
});

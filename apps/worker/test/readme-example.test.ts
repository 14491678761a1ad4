import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServersConfig } from '../src/config/servers-config.js';

const README = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** The JSON block after `<!-- readme-example: <name> -->`. */
function example(name: string): string {
  const match = new RegExp(`<!-- readme-example: ${name} -->\\n\`\`\`json\\n([\\s\\S]*?)\\n\`\`\``).exec(README);
  if (!match) throw new Error(`README.md has no readme-example "${name}"`);
  return match[1]!;
}

describe('README: the servers.json with each feature, next to the Claude Code .mcp.json it came from', () => {
  it("loads through the worker's loader with no warning, each feature in force, each entry the client's own", () => {
    const config = parseServersConfig('servers.json', example('servers-json'), {
      envFile: null,
      environment: { GITHUB_TOKEN: 'ghp_example' },
    });
    expect(config.warnings).toEqual([]);
    expect(config.expansion.github).toMatchObject({ variables: ['GITHUB_TOKEN'], error: null });
    expect(config.servers.github).toMatchObject({
      env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_example' },
      tools: { allow: ['get_*', 'list_*', 'search_*'] },
      requestTimeoutMs: 120_000,
      maxTimeoutsInARow: 3,
    });
    expect(config.servers.playwright).toMatchObject({ share: 'per-session' });

    // Every entry of the Claude Code file is there unchanged: servers.json only adds host fields.
    const written = JSON.parse(example('servers-json')).mcpServers;
    const client = JSON.parse(example('claude-code')).mcpServers;
    expect(Object.keys(written)).toEqual(Object.keys(client));
    for (const [name, entry] of Object.entries(client)) expect(written[name]).toMatchObject(entry as object);
  });
});

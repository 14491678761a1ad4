import { NameFilter } from './name-filter.js';

/** The three things a server offers by name, each with its own optional filter (`tools`, `prompts`, `resources`). */
export type FilterKind = 'tools' | 'prompts' | 'resources';
export type ServerFilters = Readonly<Partial<Record<FilterKind, NameFilter>>>;

export const FILTER_KINDS: readonly FilterKind[] = ['tools', 'prompts', 'resources'];

/** `servers.<name>.tools` / `.prompts` / `.resources` from a server's config, checked (TypeError naming the field). */
export function resolveFilters(at: string, config: Record<string, unknown>): ServerFilters {
  const filters: Partial<Record<FilterKind, NameFilter>> = {};
  for (const kind of FILTER_KINDS) {
    if (config[kind] !== undefined) filters[kind] = NameFilter.parse(`${at}.${kind}`, config[kind]);
  }
  return filters;
}

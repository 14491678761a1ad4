import type { FilterKind, ServerFilters } from '../../config/server-filters.js';
import { FilteredError, type JsonRpcError, toJsonRpcError } from '../../errors.js';
import { type Json, type Msg, object } from '../../protocol/message.js';
import type { RouterCore, RouterFeature } from '../feature.js';
import type { Session } from '../session.js';

/** One of them, singular, for messages. */
const ONE: Record<FilterKind, 'tool' | 'prompt' | 'resource'> = {
  tools: 'tool',
  prompts: 'prompt',
  resources: 'resource',
};

/** The list requests, and the field of each item the filter reads (a tool's name, a resource's URI). */
const LISTS: Record<string, { kind: FilterKind; field: string }> = {
  'tools/list': { kind: 'tools', field: 'name' },
  'prompts/list': { kind: 'prompts', field: 'name' },
  'resources/list': { kind: 'resources', field: 'uri' },
};

/** The requests that name one item, and where they name it. */
const TARGETS: Record<string, { kind: FilterKind; name: (params: Json | undefined) => unknown }> = {
  'tools/call': { kind: 'tools', name: (p) => p?.name },
  'prompts/get': { kind: 'prompts', name: (p) => p?.name },
  'completion/complete': { kind: 'prompts', name: (p) => (p?.ref?.type === 'ref/prompt' ? p.ref.name : undefined) },
  'resources/read': { kind: 'resources', name: (p) => p?.uri },
  'resources/subscribe': { kind: 'resources', name: (p) => p?.uri },
  'resources/unsubscribe': { kind: 'resources', name: (p) => p?.uri },
};

/** The refusal for a request that names a filtered tool, prompt or resource; null when it may go on. */
export function filteredTarget(server: string, filters: ServerFilters, message: Msg): FilteredError | null {
  const target = TARGETS[message.method as string];
  if (!target) return null;
  const filter = filters[target.kind];
  if (!filter) return null;
  const name = target.name(object(message.params));
  if (typeof name !== 'string' || filter.admits(name)) return null; // a malformed request: the server answers it
  return new FilteredError(server, ONE[target.kind], name, target.kind, filter.describe());
}

/** For a list request under a filter: what removes the filtered items from each response (each page). */
export function listFilter(filters: ServerFilters, method: string): ((response: Msg) => void) | undefined {
  const list = LISTS[method];
  const filter = list && filters[list.kind];
  if (!list || !filter) return undefined;
  return (response) => {
    const items = response.result?.[list.kind];
    if (!Array.isArray(items)) return;
    response.result = {
      ...response.result,
      [list.kind]: items.filter((item) => {
        const name = object(item)?.[list.field];
        return typeof name === 'string' && filter.admits(name);
      }),
    };
  };
}

/**
 * Filters as a routing feature: a request naming a filtered item is refused before it is queued
 * (the backend never sees it); a list response loses its filtered items. No state: the filters are
 * read from the link at each request (a reconfigured server applies them to the next one).
 */
export class Filters implements RouterFeature {
  constructor(private readonly core: RouterCore) {}

  admit(_session: Session, message: Msg): JsonRpcError | null {
    const { link } = this.core;
    const filtered = filteredTarget(link.server, link.filters, message);
    return filtered ? toJsonRpcError(filtered) : null;
  }

  request(session: Session, message: Msg): boolean {
    const onResponse = listFilter(this.core.link.filters, message.method as string);
    if (!onResponse) return false;
    this.core.forward(session, message, onResponse);
    return true;
  }
}

import type { SearchHit } from './vector-store.js';

/** What `/search` answers, from the daemon's host or from naive mode's plain helper. */
export interface SearchResult {
  query: string;
  hits: SearchHit[];
  helperPid: number;
}

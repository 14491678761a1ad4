import type { Document } from './documents.js';

/**
 * The helper's "vector store": each document is a bag of words (term counts), a query is one too,
 * and documents are ranked by cosine similarity. Tiny, deterministic, and enough to give the helper
 * real work to do per request.
 */
const STOPWORDS = new Set(
  'a an and are as at be by each for from in into is it its of on one or so the their them then they this to too was were when with without'.split(
    ' ',
  ),
);

export type Vector = Map<string, number>;

export function tokenize(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((word) => !STOPWORDS.has(word));
}

export function vectorize(text: string): Vector {
  const vector: Vector = new Map();
  for (const word of tokenize(text)) vector.set(word, (vector.get(word) ?? 0) + 1);
  return vector;
}

function norm(vector: Vector): number {
  let sum = 0;
  for (const value of vector.values()) sum += value * value;
  return Math.sqrt(sum);
}

export function cosine(a: Vector, b: Vector): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let dot = 0;
  for (const [word, value] of small) dot += value * (large.get(word) ?? 0);
  const denominator = norm(a) * norm(b);
  return denominator === 0 ? 0 : dot / denominator;
}

export interface SearchHit {
  id: string;
  title: string;
  score: number;
}

export class VectorStore {
  readonly #entries: Array<{ doc: Document; vector: Vector }>;

  constructor(documents: readonly Document[]) {
    this.#entries = documents.map((doc) => ({ doc, vector: vectorize(`${doc.title} ${doc.text}`) }));
  }

  get size(): number {
    return this.#entries.length;
  }

  search(query: string, limit = 5): SearchHit[] {
    const q = vectorize(query);
    return this.#entries
      .map(({ doc, vector }) => ({ id: doc.id, title: doc.title, score: cosine(q, vector) }))
      .filter((hit) => hit.score > 0)
      .sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))
      .slice(0, limit)
      .map((hit) => ({ ...hit, score: Math.round(hit.score * 1e4) / 1e4 }));
  }
}

/**
 * The id of a JSON-RPC message too long to be parsed, read from the only parts of it that were kept:
 * its first and its last bytes. Only a member of the top-level object counts (an `"id"` inside
 * `params` is not the message's). The head is read forwards (most clients write the id early); the
 * tail backwards (the TypeScript SDK writes `{...request, jsonrpc, id}`: the id is the last member).
 *
 * The limit: an id that sits neither within the head nor within the tail (large members on both
 * sides of it) cannot be read, and neither can one in a line that is not a JSON object; the answer
 * is then `undefined` (the caller answers with `id: null`, as JSON-RPC says).
 */
export type LineId = string | number | null;

export function idOfCutLine(head: string, tail: string): LineId | undefined {
  const early = idFromHead(head);
  return early !== undefined ? early : idFromTail(tail);
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/** The top-level id in the first bytes of an object, when it appears before the cut. */
export function idFromHead(text: string): LineId | undefined {
  let i = skipSpace(text, 0);
  if (text[i] !== '{') return undefined;
  i++;
  for (;;) {
    i = skipSpace(text, i);
    if (text[i] !== '"') return undefined; // `}` (no id at all) or not JSON
    const keyEnd = stringEnd(text, i);
    if (keyEnd === -1) return undefined;
    const key = parse(text.slice(i, keyEnd));
    i = skipSpace(text, keyEnd);
    if (text[i] !== ':') return undefined;
    i = skipSpace(text, i + 1);
    const valueEnd = valueEndAt(text, i);
    if (valueEnd === -1) return undefined; // cut inside the value
    if (key === 'id') return scalar(text.slice(i, valueEnd));
    i = skipSpace(text, valueEnd);
    if (text[i] !== ',') return undefined;
    i++;
  }
}

/** The top-level id in the last bytes of an object, when it appears after the cut. */
export function idFromTail(text: string): LineId | undefined {
  let i = skipSpaceBack(text, text.length - 1);
  if (text[i] !== '}') return undefined;
  i--;
  for (;;) {
    i = skipSpaceBack(text, i);
    const valueStart = valueStartAt(text, i);
    if (valueStart === -1) return undefined; // cut inside the value, or not JSON
    const valueEnd = i + 1;
    let j = skipSpaceBack(text, valueStart - 1);
    if (text[j] !== ':') return undefined;
    j = skipSpaceBack(text, j - 1);
    if (text[j] !== '"') return undefined;
    const keyStart = stringStartBack(text, j);
    if (keyStart === -1) return undefined;
    if (parse(text.slice(keyStart, j + 1)) === 'id') return scalar(text.slice(valueStart, valueEnd));
    i = skipSpaceBack(text, keyStart - 1);
    if (text[i] !== ',') return undefined; // `{`: the start, and no id; anything else: not JSON
    i--;
  }
}

function skipSpace(text: string, i: number): number {
  while (isSpace(text[i])) i++;
  return i;
}

function skipSpaceBack(text: string, i: number): number {
  while (i >= 0 && isSpace(text[i])) i--;
  return i;
}

/** `text[i]` opens a string: the index after its closing quote, or -1 when the text ends first. */
function stringEnd(text: string, i: number): number {
  for (let k = i + 1; k < text.length; k++) {
    if (text[k] === '\\') k++;
    else if (text[k] === '"') return k + 1;
  }
  return -1;
}

/**
 * `text[j]` closes a string: the index of its opening quote, or -1 when the text starts first. A
 * quote opens it when an even number of backslashes precede it (an odd one escapes it); a quote or
 * a run of backslashes at the very start of the text cannot be judged: -1.
 */
function stringStartBack(text: string, j: number): number {
  for (let k = j - 1; k >= 0; k--) {
    if (text[k] !== '"') continue;
    let slashes = 0;
    while (k - slashes - 1 >= 0 && text[k - slashes - 1] === '\\') slashes++;
    if (k - slashes === 0) return -1; // the text starts here: a backslash before the cut may escape it
    if (slashes % 2 === 0) return k;
  }
  return -1;
}

/** A value starts at `i`: the index after it, or -1 when the text ends first. */
function valueEndAt(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let k = i; k < text.length; k++) {
      const d = text[k];
      if (d === '"') {
        k = stringEnd(text, k) - 1;
        if (k < 0) return -1;
      } else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return k + 1;
      }
    }
    return -1;
  }
  let k = i;
  while (k < text.length && !isSpace(text[k]) && text[k] !== ',' && text[k] !== '}' && text[k] !== ']') k++;
  return k < text.length && k > i ? k : -1; // a number that touches the cut may go on after it
}

/** A value ends at `i` (inclusive): the index of its first character, or -1 when the text starts first. */
function valueStartAt(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return stringStartBack(text, i);
  if (c === '}' || c === ']') {
    let depth = 0;
    for (let k = i; k >= 0; k--) {
      const d = text[k];
      if (d === '"') {
        k = stringStartBack(text, k);
        if (k < 0) return -1;
      } else if (d === '}' || d === ']') depth++;
      else if (d === '{' || d === '[') {
        depth--;
        if (depth === 0) return k;
      }
    }
    return -1;
  }
  let k = i;
  while (k >= 0 && !isSpace(text[k]) && text[k] !== ',' && text[k] !== ':' && text[k] !== '{' && text[k] !== '[') k--;
  return k >= 0 && k < i ? k + 1 : -1;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** An id is a string, a number or null; anything else (an object, a bad token) is no id. */
function scalar(text: string): LineId | undefined {
  const value = parse(text);
  return typeof value === 'string' || typeof value === 'number' || value === null ? value : undefined;
}

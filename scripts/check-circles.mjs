#!/usr/bin/env node
// Fails on an import circle among the sources of packages/ and apps/ (type-only imports included).
//
// Usage: node scripts/check-circles.mjs [root]   (root defaults to this checkout)
//
// Every .ts/.tsx/.mts/.cts/.js/.mjs/.cjs file under <root>/packages and <root>/apps is read (not
// node_modules, dist, test-results or dot folders; not .d.ts), parsed with TypeScript, and each
// relative module reference becomes an edge: `import` (also `import type`, `import { type X }`),
// `export ... from`, `import x = require()`, `require()`, dynamic `import()` and `import('./x').T`
// types. A specifier resolves as written, then `.js`/`.mjs`/`.cjs`/`.jsx` as the `.ts`/`.mts`/`.cts`/
// `.tsx` it is compiled from, then with an extension added, then as a folder's index file. Every
// strongly connected set of more than one file is a circle.
//
// <root>/scripts/known-circles.json lists circles that are accepted for now (reported, exit 0). The
// list can only shrink: a listed circle that no longer exists exactly as listed is an error too, so
// the entry goes in the change that breaks the circle. Exit 1 naming each circle's files (or a stale
// or malformed list entry), 0 when there is no unlisted circle.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const SOURCE = /\.(?:[cm]?[jt]s|[jt]sx)$/;
const DECLARATION = /\.d\.[cm]?ts$/;
const SKIP = new Set(['node_modules', 'dist', 'test-results', 'coverage']);
const TOPS = ['packages', 'apps'];
const KNOWN_FILE = join('scripts', 'known-circles.json');
/** What a compiled specifier's extension is written as in the source. */
const COMPILED_FROM = { '.js': ['.ts', '.tsx'], '.jsx': ['.tsx'], '.mjs': ['.mts'], '.cjs': ['.cts'] };
const EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];

const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const rel = (file) => relative(root, file).split(sep).join('/');

function sourceFiles() {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      if (SKIP.has(name) || name.startsWith('.')) continue;
      const path = join(dir, name);
      const stats = statSync(path);
      if (stats.isDirectory()) walk(path);
      else if (stats.isFile() && SOURCE.test(name) && !DECLARATION.test(name)) files.push(path);
    }
  };
  for (const top of TOPS) if (existsSync(join(root, top))) walk(join(root, top));
  return files;
}

/** Every relative module reference in a file: [specifier, typeOnly]. */
function references(file) {
  const kind = /\.[cm]?js$/.test(file) ? ts.ScriptKind.JS : file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, kind);
  const found = [];
  const add = (literal, typeOnly) => {
    if (literal && ts.isStringLiteralLike(literal) && /^\.\.?(?:\/|$)/.test(literal.text)) {
      found.push([literal.text, typeOnly]);
    }
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (!clause.name &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument)) add(argument.literal, true);
    } else if (ts.isCallExpression(node) && node.arguments.length >= 1) {
      const callee = node.expression;
      const dynamicImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const requireCall = ts.isIdentifier(callee) && callee.text === 'require';
      if (dynamicImport || requireCall) add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function resolver(known) {
  return (from, specifier) => {
    const abs = resolve(dirname(from), specifier);
    const candidates = [abs];
    for (const [ext, sources] of Object.entries(COMPILED_FROM)) {
      if (abs.endsWith(ext)) for (const s of sources) candidates.push(abs.slice(0, -ext.length) + s);
    }
    for (const ext of EXTENSIONS) candidates.push(abs + ext);
    for (const ext of EXTENSIONS) candidates.push(join(abs, `index${ext}`));
    return candidates.find((c) => known.has(c)) ?? null;
  };
}

/** Tarjan's strongly connected components; each with more than one file is a circle. */
function circlesOf(edges) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const circles = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v).keys()) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return circles.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** The accepted circles, as sorted file lists; problems with the file itself are returned as errors. */
function knownCircles() {
  const path = join(root, KNOWN_FILE);
  if (!existsSync(path)) return { known: [], errors: [] };
  const bad = (why) => ({ known: [], errors: [`${KNOWN_FILE}: ${why}`] });
  let data;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return bad(`not valid JSON (${error.message})`);
  }
  if (data === null || typeof data !== 'object' || !Array.isArray(data.circles)) {
    return bad('must be an object with a "circles" array');
  }
  const known = [];
  for (const [i, entry] of data.circles.entries()) {
    const files = entry?.files;
    const ok =
      Array.isArray(files) &&
      files.length > 1 &&
      files.every((f) => typeof f === 'string' && f.length > 0) &&
      new Set(files).size === files.length;
    if (!ok) return bad(`circles[${i}].files must list two or more distinct file paths (relative to the root)`);
    known.push([...files].sort());
  }
  return { known, errors: [] };
}

const files = sourceFiles();
const byPath = new Set(files);
const target = resolver(byPath);
/** file -> (file it references -> every reference is type-only) */
const edges = new Map(files.map((f) => [f, new Map()]));
for (const file of files) {
  const out = edges.get(file);
  for (const [specifier, typeOnly] of references(file)) {
    const to = target(file, specifier);
    if (to === null || to === file) continue;
    out.set(to, (out.get(to) ?? true) && typeOnly);
  }
}

const circles = circlesOf(edges).map((c) => ({ abs: c, files: c.map(rel) }));
const { known, errors } = knownCircles();
const key = (list) => list.join('\n');
const knownKeys = new Set(known.map(key));
const foundKeys = new Set(circles.map((c) => key(c.files)));

const describe = (circle) => {
  const lines = [];
  for (const file of circle.abs) {
    const inside = [...edges.get(file)].filter(([to]) => circle.abs.includes(to));
    const shown = inside.map(([to, typeOnly]) => `${rel(to)}${typeOnly ? ' (type-only)' : ''}`);
    lines.push(`  ${rel(file)} -> ${shown.join(', ')}`);
  }
  return lines.join('\n');
};

let failed = errors.length > 0;
for (const message of errors) console.error(message);
for (const circle of circles) {
  const allowed = knownKeys.has(key(circle.files));
  if (!allowed) failed = true;
  const head = allowed
    ? `known circle of ${circle.files.length} files (accepted by ${KNOWN_FILE} until it is broken):`
    : `import circle of ${circle.files.length} files:`;
  (allowed ? console.log : console.error)(`${head}\n${describe(circle)}`);
}
for (const listed of known) {
  if (foundKeys.has(key(listed))) continue;
  failed = true;
  const now = circles.filter((c) => c.files.some((f) => listed.includes(f)));
  const hint = now.length
    ? ` (these files now form: ${now.map((c) => c.files.join(', ')).join('; ')})`
    : ' (it is gone: remove its entry)';
  console.error(`${KNOWN_FILE} lists a circle that no longer exists as listed: ${listed.join(', ')}${hint}`);
}
const unlisted = circles.filter((c) => !knownKeys.has(key(c.files))).length;
const summary = `${circles.length} import circle(s) in ${files.length} source files, ${unlisted} not in ${KNOWN_FILE}`;
if (failed) {
  console.error(`check-circles: FAILED: ${summary}`);
  process.exit(1);
}
console.log(`check-circles: ok: ${summary}`);

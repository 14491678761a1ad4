#!/usr/bin/env node
// `pnpm release:rehearse`: a release against a real npm registry, without touching the checkout.
//
//  1. copies the repository (HEAD, or with --worktree the working tree) into a temp folder, installs
//     it offline from pnpm's store, and applies the pending changesets there (`changeset version`);
//  2. builds the packages and starts verdaccio (installed from scripts/verdaccio/package-lock.json into
//     a cache folder, never into the workspace) on 127.0.0.1 and a free port, storage in the temp folder;
//  3. publishes every public package to it with `changeset publish`;
//  4. checks what the registry serves: each package at the version changesets gave it, dependencies as
//     real semver ranges (never `workspace:`), a CHANGELOG.md entry for that version in the tarball,
//     no tests, fixtures or dangling source maps;
//  5. in a fresh project per package, installs it BY NAME (`@spawnguard` from the local registry,
//     everything else from the npm registry) and runs its README example as ESM and as CJS
//     (scripts/readme-examples.mjs says how);
//  6. stops the registry by pid, deletes the temp folder, and proves the checkout was not changed.
//
// Options: --worktree (rehearse uncommitted files too), --keep (leave the temp folder), --results=<dir>
// (write <dir>/rehearsal.json for the CI summary), --only=<name>[,<name>] (install and run only those
// examples; everything is still published and checked).
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EXAMPLES, RUNTIME } from './readme-examples.mjs';
import { tarballProblems } from './tarball-check.mjs';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const arg = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const ts = createRequire(join(root, 'package.json'))('typescript');

const checks = [];
const lines = [];
const say = (line) => {
  console.log(line);
  lines.push(line);
};
const check = (name, ok, message) => {
  checks.push({ name, ok: Boolean(ok), ...(ok ? {} : { message }) });
  if (!ok) console.error(`FAILED ${name}: ${message}`);
  return Boolean(ok);
};
const step = (what) => console.log(`\n--- ${what}`);

/** The children's environment: none of the npm_* / pnpm variables of whoever started us. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_)/i.test(k) || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((p) => !p.includes('node_modules'))
    .join(':');
  return { ...env, TURBO_TELEMETRY_DISABLED: '1', ...extra };
}
function run(cmd, argv, opts = {}) {
  console.log(`$ ${[cmd, ...argv].join(' ')}${opts.cwd ? `   (in ${opts.cwd})` : ''}`);
  return execFileSync(cmd, argv, { stdio: 'inherit', env: cleanEnv(), ...opts });
}

// ---------------------------------------------------------------------------------------------------
// The checkout must come out as it went in.
// What `changeset version` / `publish` would change if they ran in the checkout: package versions,
// CHANGELOG.md files, the pending changesets (others may add some, or edit sources, while we run).
function snapshot() {
  const state = { versions: {}, changelogs: {}, changesets: [] };
  for (const d of readdirSync(join(root, 'packages'))) {
    const manifest = join(root, 'packages', d, 'package.json');
    if (existsSync(manifest)) state.versions[d] = JSON.parse(readFileSync(manifest, 'utf8')).version;
    const changelog = join(root, 'packages', d, 'CHANGELOG.md');
    if (existsSync(changelog)) state.changelogs[d] = createHash('sha256').update(readFileSync(changelog)).digest('hex');
  }
  state.changesets = readdirSync(join(root, '.changeset')).filter((f) => f.endsWith('.md'));
  state.tags = execFileSync('git', ['tag', '--list'], { cwd: root, encoding: 'utf8' });
  return state;
}
function untouched(before, after) {
  const problems = [];
  for (const [d, v] of Object.entries(before.versions)) {
    if (after.versions[d] !== v) problems.push(`packages/${d} version ${v} -> ${after.versions[d]}`);
  }
  for (const d of new Set([...Object.keys(before.changelogs), ...Object.keys(after.changelogs)])) {
    if (before.changelogs[d] !== after.changelogs[d]) problems.push(`packages/${d}/CHANGELOG.md changed`);
  }
  for (const f of before.changesets) if (!after.changesets.includes(f)) problems.push(`.changeset/${f} is gone`);
  if (before.tags !== after.tags) problems.push('git tags changed');
  return problems;
}

/** One request on its own connection (verdaccio closes idle keep-alive sockets under fetch's feet). */
function http(url, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((res, rej) => {
    const req = request(url, { method, agent: false, headers, timeout: 30_000 }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => {
        const buf = Buffer.concat(chunks);
        res({ status: r.statusCode, ok: r.statusCode >= 200 && r.statusCode < 300, buf, json: () => JSON.parse(buf) });
      });
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', rej);
    req.end(body);
  });
}

const cacheRoot = () =>
  process.getuid?.() === 0 ? '/var/cache/spawnguard-verdaccio' : join(homedir(), '.cache', 'spawnguard-verdaccio');

/** verdaccio, installed once per lockfile into a cache folder (npm ci: exactly the locked tree). */
function verdaccioBin() {
  const spec = join(root, 'scripts', 'verdaccio');
  const lock = readFileSync(join(spec, 'package-lock.json'));
  const hash = createHash('sha256')
    .update(readFileSync(join(spec, 'package.json')))
    .update(lock)
    .digest('hex');
  const dir = join(cacheRoot(), hash.slice(0, 16));
  const bin = join(dir, 'node_modules', 'verdaccio', 'bin', 'verdaccio');
  if (existsSync(bin)) return bin;
  mkdirSync(cacheRoot(), { recursive: true });
  const work = mkdtempSync(join(cacheRoot(), '.install-'));
  try {
    copyFileSync(join(spec, 'package.json'), join(work, 'package.json'));
    copyFileSync(join(spec, 'package-lock.json'), join(work, 'package-lock.json'));
    run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--engine-strict', '--loglevel=error'], {
      cwd: work,
    });
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return bin;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function startRegistry(work) {
  const bin = verdaccioBin();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const config = join(work, 'verdaccio.yaml');
    writeFileSync(
      config,
      [
        `storage: ${JSON.stringify(join(work, 'storage'))}`,
        'auth:',
        '  htpasswd:',
        `    file: ${JSON.stringify(join(work, 'htpasswd'))}`,
        '    max_users: 1',
        'uplinks: {}', // nothing is proxied: only what we publish exists here
        'packages:',
        "  '@spawnguard/*':",
        '    access: $all',
        '    publish: $authenticated',
        "  '**':",
        '    access: $all',
        '    publish: $authenticated',
        `listen: 127.0.0.1:${port}`,
        'web:',
        '  enable: false',
        'log: { type: stdout, format: json, level: warn }',
        '',
      ].join('\n'),
    );
    const log = join(work, `verdaccio-${attempt}.log`);
    const out = openSync(log, 'a');
    const child = spawn(process.execPath, [bin, '--config', config], {
      cwd: work,
      stdio: ['ignore', out, out],
      env: cleanEnv(),
    });
    const exited = new Promise((r) => child.once('exit', (code, signal) => r(signal ?? code)));
    const deadline = Date.now() + 60_000;
    let up = false;
    while (!up && Date.now() < deadline) {
      const gone = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 200))]);
      if (gone !== undefined) break;
      up = await http(`${url}-/ping`)
        .then((r) => r.ok)
        .catch(() => false);
    }
    if (up) {
      console.log(`verdaccio pid ${child.pid} listening on ${url} (storage ${join(work, 'storage')})`);
      return { url, port, pid: child.pid, child, exited };
    }
    await stopRegistry({ pid: child.pid, child, exited });
    if (attempt === 3) throw new Error(`verdaccio did not start; log:\n${readFileSync(log, 'utf8').slice(-2000)}`);
  }
}

async function stopRegistry(reg) {
  if (!reg || reg.child.exitCode !== null || reg.child.signalCode !== null) return;
  process.kill(reg.pid, 'SIGTERM');
  const stopped = await Promise.race([reg.exited, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
  if (stopped === 'timeout') {
    process.kill(reg.pid, 'SIGKILL');
    await reg.exited;
  }
  console.log(`verdaccio pid ${reg.pid} stopped`);
}

/** A user on our registry, so `publish: $authenticated` holds; returns its token. */
async function addUser(url) {
  const name = 'rehearsal';
  const res = await http(`${url}-/user/org.couchdb.user:${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: randomBytes(12).toString('hex'), type: 'user', roles: [] }),
  });
  let body = {};
  try {
    body = res.json();
  } catch {}
  if (!res.ok || !body.token)
    throw new Error(`could not add a user to verdaccio: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** An npmrc: the user's own (proxies, mirrors), then ours, which win. */
function npmrc(file, settings) {
  const own = join(homedir(), '.npmrc');
  const base = existsSync(own) ? `${readFileSync(own, 'utf8')}\n` : '';
  writeFileSync(
    file,
    `${base}${Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
    { mode: 0o600 },
  );
  return file;
}

// ---------------------------------------------------------------------------------------------------
// README examples (see scripts/readme-examples.mjs)

export function extractExample(readme, name) {
  const section = /^## Example\s*$([\s\S]*?)(?=^## )/m.exec(`${readme}\n## `)?.[1];
  if (!section) throw new Error('the README has no "## Example" section');
  for (const m of section.matchAll(/^```(\w+)\n([\s\S]*?)^```/gm)) {
    if (['js', 'ts', 'mjs', 'javascript', 'typescript'].includes(m[1]) && m[2].includes(`'${name}'`)) {
      return { lang: m[1], code: m[2] };
    }
  }
  throw new Error(`the README's Example section has no js/ts block importing ${name}`);
}

function topLevelNames(source) {
  const names = new Set();
  const bind = (n) => {
    if (!n) return;
    if (ts.isIdentifier(n)) names.add(n.text);
    else if (ts.isObjectBindingPattern(n) || ts.isArrayBindingPattern(n))
      for (const e of n.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const st of source.statements) {
    if (ts.isImportDeclaration(st) && st.importClause) {
      bind(st.importClause.name);
      const nb = st.importClause.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) bind(nb.name);
      if (nb && ts.isNamedImports(nb)) for (const e of nb.elements) bind(e.name);
    } else if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) bind(d.name);
    else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name) bind(st.name);
  }
  return names;
}

/** ESM imports -> require(), for the CJS run. Only the forms a README uses; anything else is an error. */
function importsToRequire(code) {
  const source = ts.createSourceFile('example.mjs', code, ts.ScriptTarget.Latest, true);
  let out = '';
  let at = 0;
  for (const st of source.statements) {
    if (!ts.isImportDeclaration(st)) continue;
    const from = st.moduleSpecifier.getText(source);
    const clause = st.importClause;
    const parts = [];
    if (!clause) parts.push(`require(${from});`);
    else {
      if (clause.name) parts.push(`const ${clause.name.text} = require(${from}).default ?? require(${from});`);
      const nb = clause.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) parts.push(`const ${nb.name.text} = require(${from});`);
      if (nb && ts.isNamedImports(nb)) {
        const list = nb.elements.map((e) => (e.propertyName ? `${e.propertyName.text}: ${e.name.text}` : e.name.text));
        parts.push(`const { ${list.join(', ')} } = require(${from});`);
      }
    }
    out += code.slice(at, st.getStart(source)) + parts.join(' ');
    at = st.getEnd();
  }
  return out + code.slice(at);
}

export function buildExample({ name, readme, format, values }) {
  const harness = EXAMPLES[name];
  if (!harness)
    throw new Error(`no entry for ${name} in scripts/readme-examples.mjs: the rehearsal cannot run its README example`);
  let { lang, code } = extractExample(readme, name);
  for (const [from, to] of harness.replace ?? []) {
    if (!code.includes(from))
      throw new Error(
        `the README example no longer contains ${JSON.stringify(from)}; update scripts/readme-examples.mjs`,
      );
    code = code.replaceAll(from, to(values));
  }
  if (lang.startsWith('t')) {
    code = ts.transpileModule(code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    }).outputText;
  }
  const declared = topLevelNames(ts.createSourceFile('example.mjs', code, ts.ScriptTarget.Latest, true));
  const context = Object.entries(harness.context ?? {})
    .filter(([key]) => key.startsWith('__') || !declared.has(key))
    .map(([, src]) => src)
    .join('\n');
  const banner = (what) => `// ----- ${what}\n`;
  const body = `${banner('context (scripts/readme-examples.mjs)')}${context}\n${banner(`README example of ${name}, verbatim but for: ${JSON.stringify((harness.replace ?? []).map(([f]) => f))}`)}`;
  const after = `\n${banner('what the README promises (scripts/readme-examples.mjs)')}${harness.after}\n`;
  if (format === 'esm') {
    return (
      `import { createRequire as $createRequire } from 'node:module';\nconst require = $createRequire(import.meta.url);\n` +
      `const $r = require('./rehearsal-runtime.cjs');\n${body}${code}${after}`
    );
  }
  return (
    `'use strict';\nconst $r = require('./rehearsal-runtime.cjs');\n(async () => {\n${body}${importsToRequire(code)}${after}})().catch((error) => {\n` +
    `  console.error(error);\n  process.exit(1);\n});\n`
  );
}

/** Kill whatever still carries the marker (a daemon an example left behind), by pid. */
function sweep(marker) {
  const needle = `SPAWNGUARD_REHEARSAL=${marker}`;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(needle)) {
        process.kill(Number(pid), 'SIGKILL');
        console.log(`killed leftover pid ${pid} of the README example`);
      }
    } catch {}
  }
}
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

async function runExample(project, name, format, readme) {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-example-'));
  const marker = randomBytes(6).toString('hex');
  const values = { port: await freePort(), dir, marker };
  const file = join(project, `readme-example.${format === 'esm' ? 'mjs' : 'cjs'}`);
  try {
    writeFileSync(file, buildExample({ name, readme, format, values }));
    const child = spawn(process.execPath, [file], {
      cwd: project,
      detached: true, // its own process group: a timeout ends the example and all it started
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv({
        REHEARSAL_PORT: String(values.port),
        REHEARSAL_DIR: dir,
        REHEARSAL_FILE: file,
        SPAWNGUARD_REHEARSAL: marker,
      }),
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += '\n(timed out after 180 s)';
      process.kill(-child.pid, 'SIGKILL');
    }, 180_000);
    const code = await new Promise((r) => child.on('close', (c, s) => r(s ?? c)));
    clearTimeout(timer);
    const doneLine = out.split('\n').find((l) => l.startsWith('REHEARSAL-DONE '));
    const done = doneLine ? JSON.parse(doneLine.slice('REHEARSAL-DONE '.length)) : null;
    const lingering = [];
    for (const pid of done?.deadPids ?? []) {
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      if (alive(pid)) lingering.push(pid);
    }
    if (code === 0 && done && lingering.length === 0) return { ok: true, summary: done.summary };
    const why =
      code !== 0
        ? `exited ${code}`
        : !done
          ? 'exited before the rehearsal could check its promise'
          : `pids ${lingering} outlived it`;
    return { ok: false, summary: `${why}\n${out.trim().split('\n').slice(-15).join('\n')}` };
  } catch (error) {
    return { ok: false, summary: String(error.message ?? error) };
  } finally {
    sweep(marker);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------

function publicPackages(repo) {
  return readdirSync(join(repo, 'packages'))
    .map((d) => ({ dir: join(repo, 'packages', d), short: d }))
    .filter(({ dir }) => existsSync(join(dir, 'package.json')))
    .map((p) => ({ ...p, manifest: JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8')) }))
    .filter((p) => !p.manifest.private);
}

async function main() {
  const before = snapshot();
  const work = mkdtempSync(join(tmpdir(), 'spawnguard-rehearse-'));
  const repo = join(work, 'repo');
  const npmCache = join(work, 'npm-cache'); // fresh: nothing cached from an earlier rehearsal's registry
  let registry;
  const stop = async (signal) => {
    await stopRegistry(registry).catch(() => {});
    if (!args.includes('--keep')) rmSync(work, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    step(`copy of the repository (${args.includes('--worktree') ? 'working tree' : 'HEAD'}) in ${repo}`);
    mkdirSync(repo);
    if (args.includes('--worktree')) {
      const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
        cwd: root,
        encoding: 'utf8',
      })
        .split('\0')
        .filter((f) => f && existsSync(join(root, f)));
      for (const f of files) cpSync(join(root, f), join(repo, f), { recursive: true });
    } else {
      const tar = execFileSync('git', ['archive', '--format=tar', 'HEAD'], { cwd: root, maxBuffer: 1 << 30 });
      execFileSync('tar', ['-x', '-C', repo], { input: tar });
    }
    const git = (...a) =>
      run('git', ['-c', 'user.name=rehearsal', '-c', 'user.email=rehearsal@localhost', ...a], { cwd: repo });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'rehearsal: the tree being released');
    run('pnpm', ['install', '--frozen-lockfile', '--prefer-offline', '--reporter=append-only'], { cwd: repo });

    step('changeset version (in the copy)');
    const pending = readdirSync(join(repo, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    console.log(`${pending.length} pending changesets: ${pending.join(', ')}`);
    run('pnpm', ['exec', 'changeset', 'version'], { cwd: repo });
    const left = readdirSync(join(repo, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    check('changesets applied', left.length === 0, `still pending after changeset version: ${left.join(', ')}`);
    const packages = publicPackages(repo);
    for (const p of packages) {
      const changelog = join(p.dir, 'CHANGELOG.md');
      const text = existsSync(changelog) ? readFileSync(changelog, 'utf8') : '';
      check(
        `${p.manifest.name}: CHANGELOG.md has ${p.manifest.version}`,
        text.includes(`## ${p.manifest.version}\n`),
        existsSync(changelog)
          ? `no "## ${p.manifest.version}" heading`
          : 'no CHANGELOG.md (no changeset ever named it)',
      );
    }

    step('build (in the copy)');
    run('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=./packages/*', '--output-logs=errors-only'], { cwd: repo });

    step('local registry');
    registry = await startRegistry(work);
    const token = await addUser(registry.url);
    const publishRc = npmrc(join(work, 'publish.npmrc'), {
      registry: registry.url,
      [`//127.0.0.1:${registry.port}/:_authToken`]: token,
    });
    const publishEnv = cleanEnv({
      // changesets reads the registry from these variables, not from .npmrc: without them it would
      // name the public registry on its npm info / pnpm publish command lines.
      npm_config_registry: registry.url,
      'npm_config_@spawnguard:registry': registry.url,
      npm_config_userconfig: publishRc,
      npm_config_cache: npmCache,
    });

    step('changeset publish (to the local registry)');
    run('pnpm', ['exec', 'changeset', 'publish'], { cwd: repo, env: publishEnv });

    step('what the registry serves');
    const published = {};
    for (const p of packages) {
      const { name, version } = p.manifest;
      const res = await http(`${registry.url}${name.replace('/', '%2f')}`);
      const doc = res.ok ? res.json() : null;
      const meta = doc?.versions?.[version];
      if (
        !check(
          `${name}@${version}: published`,
          meta && doc['dist-tags']?.latest === version,
          `registry answered ${res.status}`,
        )
      )
        continue;
      published[name] = version;
      // Real ranges only; a workspace dependency must point at a version that is on the registry.
      const bad = [];
      for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies']) {
        for (const [dep, range] of Object.entries(meta[field] ?? {})) {
          if (String(range).startsWith('workspace:')) bad.push(`${field}.${dep} is ${range}`);
          else if (!/^[\^~]?\d+\.\d+\.\d+(-[\w.]+)?$|^(>=|<)/.test(String(range)))
            bad.push(`${field}.${dep} is ${range}`);
        }
      }
      for (const [dep, range] of Object.entries(meta.dependencies ?? {})) {
        if (!dep.startsWith('@spawnguard/')) continue;
        const depVersion = packages.find((q) => q.manifest.name === dep)?.manifest.version;
        if (range !== `^${depVersion}`) bad.push(`dependencies.${dep} is ${range}, expected ^${depVersion}`);
      }
      // devDependencies may name @spawnguard/internal (private, inlined by tsup, never published): npm never
      // installs a dependency's devDependencies, so it is harmless, but it must be a real version too.
      check(`${name}@${version}: manifest ranges`, bad.length === 0, bad.join('; '));
      const tgz = join(work, 'tarballs', `${p.short}.tgz`);
      mkdirSync(dirname(tgz), { recursive: true });
      const tarball = await http(meta.dist.tarball);
      if (!check(`${name}@${version}: tarball served`, tarball.ok, `GET ${meta.dist.tarball}: ${tarball.status}`))
        continue;
      writeFileSync(tgz, tarball.buf);
      const unpacked = join(work, 'tarballs', p.short);
      mkdirSync(unpacked);
      execFileSync('tar', ['xzf', tgz, '-C', unpacked]);
      const inside = join(unpacked, 'package');
      const shipped = JSON.parse(readFileSync(join(inside, 'package.json'), 'utf8'));
      check(
        `${name}@${version}: tarball manifest`,
        shipped.version === version && !JSON.stringify(shipped).includes('workspace:'),
        `package.json in the tarball: version ${shipped.version}, ${JSON.stringify(shipped.dependencies)}`,
      );
      const changelog = existsSync(join(inside, 'CHANGELOG.md'))
        ? readFileSync(join(inside, 'CHANGELOG.md'), 'utf8')
        : '';
      check(
        `${name}@${version}: CHANGELOG.md in the tarball`,
        changelog.includes(`## ${version}\n`),
        'missing or without this version',
      );
      const problems = tarballProblems(inside);
      check(`${name}@${version}: tarball contents`, problems.length === 0, problems.join('; '));
      const deps = Object.entries(meta.dependencies ?? {}).map(([d, r]) => `${d}@${r}`);
      say(`published ${name}@${version}   dependencies: ${deps.join(', ') || 'none'}`);
      const entry = changelog.split(`## ${version}\n`)[1]?.split('\n## ')[0] ?? '';
      const first = entry.split('\n').find((l) => l.startsWith('- ')) ?? '(no entry)';
      say(`  CHANGELOG ${version}: ${first.length > 110 ? `${first.slice(0, 107)}...` : first}`);
    }

    step('install by name in fresh projects, run each README example');
    const consumeRc = npmrc(join(work, 'consume.npmrc'), {
      '@spawnguard:registry': registry.url, // everything else from the npm registry, as a user would
      'omit-lockfile-registry-resolved': 'false',
    });
    const consumeEnv = cleanEnv({ npm_config_userconfig: consumeRc, npm_config_cache: npmCache });
    const only = arg('only')?.split(',');
    for (const p of packages) {
      const { name } = p.manifest;
      const version = published[name];
      if (!version || (only && !only.includes(name))) continue;
      const project = join(work, 'consumers', p.short);
      mkdirSync(project, { recursive: true });
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `try-${p.short}`, private: true }));
      const wanted = [name, ...(EXAMPLES[name]?.install ?? [])].map((n) => `${n}@${published[n] ?? 'latest'}`);
      let installed = false;
      try {
        run('npm', ['install', '--no-audit', '--no-fund', '--engine-strict', '--loglevel=error', ...wanted], {
          cwd: project,
          env: consumeEnv,
        });
        const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8'));
        const from = Object.entries(lock.packages)
          .filter(([k]) => k.includes('node_modules/@spawnguard/'))
          .filter(([, v]) => !String(v.resolved).startsWith(registry.url))
          .map(([k, v]) => `${k} from ${v.resolved}`);
        installed = check(
          `${name}@${version}: installed by name`,
          from.length === 0,
          `not from the local registry: ${from.join(', ')}`,
        );
      } catch (error) {
        check(`${name}@${version}: installed by name`, false, error.message);
      }
      if (!installed) continue;
      writeFileSync(join(project, 'rehearsal-runtime.cjs'), RUNTIME);
      const readmePath = join(project, 'node_modules', ...name.split('/'), 'README.md');
      if (!check(`${name}@${version}: README.md in the tarball`, existsSync(readmePath), 'no README.md was published'))
        continue;
      const readme = readFileSync(readmePath, 'utf8');
      for (const format of ['esm', 'cjs']) {
        const result = await runExample(project, name, format, readme);
        check(`${name}@${version}: README example (${format.toUpperCase()})`, result.ok, result.summary);
        say(
          `  ${name}@${version} README example (${format.toUpperCase()}): ${result.ok ? 'ok' : 'FAILED'}: ${result.summary.split('\n')[0]}`,
        );
      }
    }
  } finally {
    await stopRegistry(registry);
    if (args.includes('--keep')) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
    const problems = untouched(before, snapshot());
    check('checkout untouched (versions, CHANGELOGs, changesets, tags)', problems.length === 0, problems.join('; '));
  }
}

let error;
try {
  await main();
} catch (e) {
  error = e;
  console.error(e);
}
const failed = checks.filter((c) => !c.ok);
say(
  `release rehearsal: ${checks.length - failed.length} of ${checks.length} checks passed${error ? `; stopped early: ${error.message}` : ''}`,
);
if (arg('results')) {
  mkdirSync(resolve(arg('results')), { recursive: true });
  writeFileSync(
    join(resolve(arg('results')), 'rehearsal.json'),
    `${JSON.stringify({ node: process.version, checks, lines, ...(error ? { error: String(error.message) } : {}) }, null, 2)}\n`,
  );
}
process.exit(failed.length || error ? 1 : 0);

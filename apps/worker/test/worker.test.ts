import { readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  freePort,
  http,
  isDaemon,
  isHelper,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  waitFor,
  workerArgs,
} from './helpers.js';

describe('a running worker', () => {
  let home = '';
  let port = 0;
  let token = '';
  const host = () => ({ host: `127.0.0.1:${port}` });

  beforeAll(async () => {
    home = makeHome();
    port = await freePort();
    const start = await runCli(['start', ...workerArgs(home, port)]);
    expect(start.stderr).toBe('');
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/^spawnguard-worker started: pid \d+, 127\.0\.0\.1:\d+/);
    token = readFileSync(join(home, 'token'), 'utf8').trim();
  });

  afterAll(async () => {
    killStarted();
    await runCli(['stop', ...workerArgs(home, port)]);
    await cleanup(home);
  });

  it('is idempotent to start, and keeps its files private', async () => {
    const again = await runCli(['start', ...workerArgs(home, port)]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('');
    expect(statSync(home).mode & 0o777).toBe(0o700);
    for (const file of ['token', 'worker.json', 'worker.log', 'registry.json']) {
      expect(statSync(join(home, file)).mode & 0o777, file).toBe(0o600);
    }
    expect(processesWith(home).filter(isDaemon)).toHaveLength(1);
  });

  it('answers /health with its identity and no secrets, and /ready', async () => {
    const health = await http(port, '/health');
    expect(health.status).toBe(200);
    expect(Object.keys(health.json).sort()).toEqual(['instanceId', 'naive', 'name', 'pid', 'startToken', 'version']);
    expect(health.json).toMatchObject({ name: 'spawnguard-worker', naive: false });
    expect(health.text).not.toContain(token);
    const pidFile = JSON.parse(readFileSync(join(home, 'worker.json'), 'utf8'));
    expect(pidFile).toMatchObject({ pid: health.json.pid, startToken: health.json.startToken, port });
    expect((await http(port, '/ready')).status).toBe(200);
  });

  it('accepts events and searches through the helper', async () => {
    const event = await http(port, '/events', {
      home,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'file.saved', payload: { path: '/x' } }),
    });
    expect(event.status).toBe(202);
    expect(event.json).toMatchObject({ name: 'spawnguard-worker', accepted: true });
    const search = await http(port, '/search?q=circuit%20breaker%20cooldown', { home });
    expect(search.status).toBe(200);
    expect(search.json.hits[0].id).toBe('breaker');
    const helpers = processesWith(home).filter(isHelper);
    expect(helpers.map((h) => h.pid)).toEqual([search.json.helperPid]);
    expect((await http(port, '/search', { home })).status).toBe(400);
  });

  it('delivers a hook on the fast path', async () => {
    const before = (await runCli(['status', '--json', ...workerArgs(home, port)])).stdout;
    const hook = await runCli(['hook', 'session.start', '--payload', '{"a":1}', ...workerArgs(home, port)]);
    expect(hook.code, hook.stderr).toBe(0);
    expect(hook.stderr).toBe('');
    const after = (await runCli(['status', '--json', ...workerArgs(home, port)])).stdout;
    expect(JSON.parse(after).events.total).toBe(JSON.parse(before).events.total + 1);
    const stdinPayload = await runCli(['hook', 'x', '--payload', '-', ...workerArgs(home, port)], { input: '{"b":2}' });
    expect(stdinPayload.stderr).toBe('');
  });

  it('reports status for humans and as JSON', async () => {
    const json = await runCli(['status', '--json', ...workerArgs(home, port)]);
    expect(json.code, json.stderr).toBe(0);
    const s = JSON.parse(json.stdout);
    expect(s).toMatchObject({ running: true, authorized: true, port, naive: false, reloads: 0 });
    expect(s.breakers.spawn.state).toBe('closed');
    expect(s.leftoversReapedAtBoot).toEqual({ killed: [], dropped: [], skipped: [] });
    expect(s.config).toMatchObject({
      source: 'built-in',
      disabled: [],
      warnings: [],
      valid: true,
      error: null,
      reloadFailures: 0,
      watch: { state: 'watching', debounceMs: 300, pending: false, waitingFor: null },
    });
    // The built-in demo server, hosted like any configured one (it served the search above).
    expect(s.servers).toHaveLength(1);
    expect(s.servers[0]).toMatchObject({ name: 'demo', state: 'running', breaker: 'closed', starts: 1, restarts: 0 });
    expect(s.servers[0].rssBytes).toBeGreaterThan(1024 * 1024);
    expect(s.children.map((c: { type: string; session: string }) => [c.type, c.session])).toEqual([
      ['mcp-server', 'mcp:demo'],
    ]);
    expect(s.registry.ownership.state).toBe('owned');
    const human = await runCli(['status', ...workerArgs(home, port)]);
    expect(human.stdout).toMatch(/pid +\d+/);
    expect(human.stdout).toMatch(/uptime/);
    expect(human.stdout).toMatch(/breakers +spawn closed/);
    expect(human.stdout).toMatch(
      /mcp demo +running \(pid \d+, [\d.]+ MB\), 1 session, 0 in flight, 1 start, 0 restarts/,
    );
    expect(human.stdout).toMatch(/registry +owned/);
    expect(human.stdout).toMatch(/reaped +0 leftovers at boot/);
  });

  it('exposes Prometheus metrics to the token holder only; /health and /ready stay open', async () => {
    // The metrics name every configured server and its activity: nothing for a process without the token.
    const anonymous = await http(port, '/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(anonymous.text).not.toContain('spawnguard_mcp');
    expect(anonymous.text).not.toContain('demo');
    const wrong = await http(port, '/metrics', { headers: { authorization: `Bearer ${'0'.repeat(64)}` } });
    expect(wrong.status).toBe(401);
    expect((await http(port, '/health')).status).toBe(200);
    expect((await http(port, '/ready')).status).toBe(200);
    const metrics = await http(port, '/metrics', { home });
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const line of [
      /^spawnguard_mcp_backend_starts_total\{server="demo"\} 1$/m,
      /^spawnguard_mcp_backend_restarts_total\{server="demo"\} 0$/m,
      /^spawnguard_mcp_server_state\{server="demo",state="running"\} 1$/m,
      /^spawnguard_mcp_sessions\{server="demo"\} 1$/m,
      /^spawnguard_mcp_inflight_requests\{server="demo"\} 0$/m,
      /^spawnguard_mcp_backend_rss_bytes\{server="demo"\} [1-9]\d+$/m,
      /^spawnguard_breaker_state\{breaker="spawn",state="open"\} 0$/m,
      /^spawnguard_http_requests_total\{route="\/health",status="200"\} \d+$/m,
      /^# TYPE spawnguard_breaker_transitions_total counter$/m,
      /^# TYPE spawnguard_reaped_processes_total counter$/m,
      /^# TYPE spawnguard_mcp_backend_starts_total counter$/m,
      /^spawnguard_registry_ownership\{state="owned"\} 1$/m,
    ]) {
      expect(metrics.text).toMatch(line);
    }
  });

  describe('refuses bad requests and survives them', () => {
    it('401 for /events and /search without the token (a squatter-free port is not an open door)', async () => {
      const event = await http(port, '/events', { method: 'POST', body: '{"event":"x"}' });
      expect(event.status).toBe(401);
      expect(event.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await http(port, '/search?q=x')).status).toBe(401);
      const wrong = { authorization: `Bearer ${'0'.repeat(64)}` };
      expect((await http(port, '/search?q=x', { headers: wrong })).status).toBe(401);
      expect((await http(port, '/search?q=x', { home })).status).toBe(200);
    });

    it("403 for a browser's cross-site request, even a no-cors GET without Origin", async () => {
      for (const site of ['cross-site', 'same-site']) {
        for (const path of ['/search?q=x', '/health', '/metrics', '/status']) {
          const res = await http(port, path, {
            home,
            headers: { 'sec-fetch-site': site, 'sec-fetch-mode': 'no-cors' },
          });
          expect(res.status, `${site} ${path}`).toBe(403);
          expect(res.json.error).toMatch(/cross-site/);
        }
      }
      for (const site of ['none', 'same-origin']) {
        expect((await http(port, '/search?q=x', { home, headers: { 'sec-fetch-site': site } })).status).toBe(200);
      }
    });

    it('/health proves the token for a challenge, and never shows it', async () => {
      const { createHealthProof, verifyHealthProof, newChallenge } = await import('@spawnguard/bind-or-die');
      const challenge = newChallenge();
      const health = await http(port, `/health?challenge=${challenge}`);
      expect(health.status).toBe(200);
      expect(verifyHealthProof({ secret: token, challenge, port, proof: health.json.proof })).toBe(true);
      expect(health.json.proof).toBe(createHealthProof({ secret: token, challenge, port }));
      expect(health.text).not.toContain(token);
      for (const bad of ['xyz', 'A'.repeat(64), '0'.repeat(20), '']) {
        expect((await http(port, `/health?challenge=${bad}`)).status, bad).toBe(400);
      }
    });

    it('403 for a forged Host (DNS rebinding)', async () => {
      for (const forged of ['evil.example', `evil.example:${port}`, `127.0.0.1:${port + 1}`, `127.0.0.1`]) {
        const res = await http(port, '/health', { headers: { host: forged } });
        expect(res.status, forged).toBe(403);
        expect(res.json.error).toMatch(/forbidden Host/);
      }
      // No Host at all (HTTP/1.0): refused too.
      const raw = await rawRequest(port, 'GET /health HTTP/1.0\r\n\r\n');
      expect(raw).toMatch(/^HTTP\/1\.1 403 /);
      expect((await http(port, '/health', { headers: { host: `localhost:${port}` } })).status).toBe(200);
    });

    it('403 for a foreign Origin, even on POST /events', async () => {
      const res = await http(port, '/events', {
        home,
        method: 'POST',
        headers: { ...host(), origin: 'http://evil.example', 'content-type': 'text/plain' },
        body: '{"event":"x"}',
      });
      expect(res.status).toBe(403);
      expect(res.json.error).toMatch(/forbidden Origin/);
      const same = await http(port, '/events', {
        home,
        method: 'POST',
        headers: { ...host(), origin: `http://127.0.0.1:${port}` },
        body: '{"event":"x"}',
      });
      expect(same.status).toBe(202);
    });

    it('401 for /shutdown and /status without the token, or with a wrong one', async () => {
      expect((await http(port, '/shutdown', { method: 'POST' })).status).toBe(401);
      const wrong = await http(port, '/shutdown', {
        method: 'POST',
        headers: { authorization: `Bearer ${'0'.repeat(64)}` },
      });
      expect(wrong.status).toBe(401);
      expect(wrong.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await http(port, '/status')).status).toBe(401);
    });

    it('413 for a 10 MB body, without buffering it; the client reads the answer, not a reset', async () => {
      const res = await http(port, '/events', {
        home,
        method: 'POST',
        headers: host(),
        body: Buffer.alloc(10 * 1024 * 1024, 'a'),
      });
      expect(res.status).toBe(413);
      expect(res.headers.connection).toBe('close');
      // Declared 10 MB, 1 KiB sent: the answer comes at once; the connection closes after the linger time.
      const declared = await http(port, '/events', {
        home,
        method: 'POST',
        headers: { ...host(), 'content-length': String(10 * 1024 * 1024) },
        body: Buffer.alloc(1024, 'a'),
      });
      expect(declared.status).toBe(413);
      expect((await http(port, '/health')).status).toBe(200);
    });

    it('400 with a message for invalid JSON and bad events', async () => {
      const bad = await http(port, '/events', {
        home,
        method: 'POST',
        body: '{"event":',
      });
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/not valid JSON/);
      expect(
        (
          await http(port, '/events', {
            home,
            method: 'POST',
            body: '[1,2]',
          })
        ).status,
      ).toBe(400);
      expect(
        (
          await http(port, '/events', {
            home,
            method: 'POST',
            body: '{"event":"has spaces"}',
          })
        ).status,
      ).toBe(400);
      expect(
        (
          await http(port, '/events', {
            home,
            method: 'POST',
            body: '',
          })
        ).status,
      ).toBe(400);
    });

    it('404 for unknown routes, 405 for wrong methods', async () => {
      expect((await http(port, '/nope')).status).toBe(404);
      const wrong = await http(port, '/events', { home });
      expect(wrong.status).toBe(405);
      expect(wrong.headers.allow).toBe('POST');
      expect((await http(port, '/health', { method: 'DELETE' })).status).toBe(405);
    });

    it('survives garbage: malformed request lines, bad encodings, huge headers, odd methods', async () => {
      const pid = (await http(port, '/health')).json.pid;
      const h = `Host: 127.0.0.1:${port}\r\n`;
      const garbage = [
        'NOT-HTTP\r\n\r\n',
        `GET /search?q=%E0%A4%A HTTP/1.1\r\n${h}\r\n`,
        `GET //..//%00 HTTP/1.1\r\n${h}\r\n`,
        `BREW /health HTTP/1.1\r\n${h}\r\n`,
        `GET /health HTTP/1.1\r\n${h}X-Big: ${'a'.repeat(40_000)}\r\n\r\n`,
        `POST /events HTTP/1.1\r\n${h}Content-Length: -1\r\n\r\n`,
        `POST /events HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\nzz\r\n`,
        `POST /events HTTP/1.1\r\n${h}Content-Length: 12\r\n\r\n{"event":1}\n`,
        `GET /search?q=${'x'.repeat(5000)} HTTP/1.1\r\n${h}\r\n`,
      ];
      for (const text of garbage) {
        const answer = await rawRequest(port, text).catch((error: Error) => `error ${error.message}`);
        expect(answer, text.slice(0, 40)).toMatch(/^HTTP\/1\.1 (200|400|401|404|405|413|431) |^error|^$/);
      }
      const health = await http(port, '/health');
      expect(health.status).toBe(200);
      expect(health.json.pid).toBe(pid);
    });

    it('counts them by route and status, and is still healthy', async () => {
      const metrics = (await http(port, '/metrics', { home })).text;
      expect(metrics).toMatch(/spawnguard_http_requests_total\{route="\/health",status="403"\} [1-9]/);
      expect(metrics).toMatch(/spawnguard_http_requests_total\{route="unknown",status="404"\} [1-9]/);
      expect(metrics).toMatch(/spawnguard_http_requests_total\{route="\/events",status="400"\} [1-9]/);
      expect((await http(port, '/health')).status).toBe(200);
      expect(processesWith(home).filter(isDaemon)).toHaveLength(1);
    });
  });

  it('stops gracefully and leaves nothing behind', async () => {
    const daemonPid = (await http(port, '/health')).json.pid;
    const stop = await runCli(['stop', ...workerArgs(home, port)]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toBe(`spawnguard-worker stopped (pid ${daemonPid})\n`);
    await waitFor('no processes', () => processesWith(home).length === 0, 5000);
    expect(() => statSync(join(home, 'worker.json'))).toThrow();
    // The token outlives the daemon: a client configured with it keeps working after a restart.
    expect(statSync(join(home, 'token')).mode & 0o777).toBe(0o600);
    const log = readFileSync(join(home, 'worker.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((l) => l.event)).toEqual(
      expect.arrayContaining(['boot.begin', 'bind.ok', 'boot.ready', 'shutdown.begin', 'shutdown.done']),
    );
  });
});

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    const finish = () => {
      socket.destroy();
      resolve(answer);
    };
    socket.setEncoding('utf8');
    // The status line is all we check; keep-alive would otherwise hold the socket open.
    socket.on('data', (d) => {
      answer += d;
      if (answer.includes('\r\n')) finish();
    });
    socket.on('end', finish);
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  });
}

// A short-lived process sharing a circuit through a fileStore, as a launcher or hook would.
// Imports the BUILT package (run `pnpm build` first) and prints one JSON line with what happened.
// argv: <marker> <mode> <storePath> <cooldownMs> [count]
//   fail <n>        run a failing fn n times
//   call            run a succeeding fn once
//   call-wait-call  call; if refused, wait retryAfterMs, then call again
//   probe-hold      call with an fn that prints {"event":"probing"} and waits for a line on stdin
import { CircuitBreaker, fileStore } from '../../dist/index.js';

const startedAt = Date.now();
const [, , marker, mode, storePath, cooldown, count] = process.argv;
if (!marker?.startsWith('spawnguard-test-')) throw new Error('child.mjs: first argument must be the test marker');
const breaker = new CircuitBreaker({ name: 'daemon', cooldownMs: Number(cooldown), store: fileStore(storePath) });
const storeProblems = [];
breaker.events.on('storeError', ({ operation, error }) =>
  storeProblems.push({ operation, code: error.code, reason: error.reason, message: error.message }),
);
const storeResets = [];
breaker.events.on('storeReset', ({ reason, error }) =>
  storeResets.push({ reason, location: error.location, message: error.message }),
);

let fnCalls = 0;
const describe = (promise) =>
  promise.then(
    (value) => ({ ok: true, value }),
    (error) => ({
      ok: false,
      name: error.name,
      code: error.code,
      state: error.state,
      retryAfterMs: error.retryAfterMs,
      message: error.message,
    }),
  );
const succeed = (value) => () => {
  fnCalls++;
  return value;
};

const out = { mode, pid: process.pid, startedAt };
if (mode === 'fail') {
  out.results = [];
  for (let i = 0; i < Number(count); i++) {
    out.results.push(
      await describe(
        breaker.execute(async () => {
          fnCalls++;
          throw new Error(`daemon crashed (${i + 1})`);
        }),
      ),
    );
  }
} else if (mode === 'call') {
  out.result = await describe(breaker.execute(succeed('called')));
} else if (mode === 'call-wait-call') {
  out.first = await describe(breaker.execute(succeed('first call ran')));
  out.fnCallsBeforeWait = fnCalls;
  if (!out.first.ok) {
    const wait = Math.min(out.first.retryAfterMs + 50, 10_000);
    out.waitedMs = wait;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  out.second = await describe(breaker.execute(succeed('probe ok')));
} else if (mode === 'probe-hold') {
  out.result = await describe(
    breaker.execute(async () => {
      fnCalls++;
      console.log(JSON.stringify({ event: 'probing', pid: process.pid }));
      await new Promise((resolve) => process.stdin.once('data', resolve));
      process.stdin.pause();
      return 'probed';
    }),
  );
} else {
  throw new Error(`child.mjs: unknown mode ${mode}`);
}
out.fnCalls = fnCalls;
out.state = breaker.state;
out.storeProblems = storeProblems;
out.storeResets = storeResets;
console.log(JSON.stringify(out));

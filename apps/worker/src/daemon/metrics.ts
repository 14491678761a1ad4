import type { CircuitState } from '@spawnguard/circuit-breaker';
import { VERSION } from '../shared/version.js';

/**
 * A Prometheus text-format registry small enough to read: counters and gauges with labels.
 * Gauges are collected when /metrics is scraped, so they never go stale and need no timers.
 */
export type Labels = Record<string, string>;

interface Series {
  labels: Labels;
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  series: Map<string, Series>;
  collect?: (() => Array<[Labels, number]>) | undefined;
}

export interface Counter {
  inc(labels?: Labels, by?: number): void;
  get(labels?: Labels): number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

export class Metrics {
  readonly #families = new Map<string, Family>();

  #family(name: string, help: string, type: Family['type']): Family {
    if (!NAME.test(name)) throw new TypeError(`metric name must match ${NAME}, got ${JSON.stringify(name)}`);
    const existing = this.#families.get(name);
    if (existing) return existing;
    const family: Family = { name, help, type, series: new Map() };
    this.#families.set(name, family);
    return family;
  }

  counter(name: string, help: string): Counter {
    const family = this.#family(name, help, 'counter');
    return {
      inc(labels = {}, by = 1) {
        const k = key(labels);
        const series = family.series.get(k);
        if (series) series.value += by;
        else family.series.set(k, { labels, value: by });
      },
      get(labels = {}) {
        return family.series.get(key(labels))?.value ?? 0;
      },
    };
  }

  /** A gauge whose value(s) are read at scrape time. */
  gauge(name: string, help: string, collect: () => number | Array<[Labels, number]>): void {
    this.#collected(name, help, 'gauge', collect);
  }

  /** A counter kept by someone else (read at scrape time): it only ever goes up. */
  counterFrom(name: string, help: string, collect: () => number | Array<[Labels, number]>): void {
    this.#collected(name, help, 'counter', collect);
  }

  #collected(name: string, help: string, type: Family['type'], collect: () => number | Array<[Labels, number]>): void {
    const family = this.#family(name, help, type);
    family.collect = () => {
      const value = collect();
      return typeof value === 'number' ? [[{}, value]] : value;
    };
  }

  render(): string {
    const lines: string[] = [];
    for (const family of this.#families.values()) {
      lines.push(`# HELP ${family.name} ${family.help.replace(/\n/g, ' ')}`);
      lines.push(`# TYPE ${family.name} ${family.type}`);
      let samples: Array<[Labels, number]>;
      try {
        samples = family.collect ? family.collect() : [...family.series.values()].map((s) => [s.labels, s.value]);
      } catch {
        samples = [];
      }
      for (const [labels, value] of samples) {
        lines.push(`${family.name}${formatLabels(labels)} ${Number.isFinite(value) ? value : 'NaN'}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}

/** What the daemon's metrics read at scrape time. */
export interface DaemonMetricsSource {
  naive: boolean;
  startedAt: number;
  breakers(): Array<{ name: string | undefined; state: CircuitState } | null>;
  servers(): Array<{
    name: string;
    state: string;
    breaker: string;
    starts: number;
    restarts: number;
    sessions: number;
    inFlight: number;
    rssBytes: number | null;
  }>;
  children(): number;
  ownership(): string | null;
  connections(): number;
  eventsReceived(): number;
  /** False while the last reload was refused (the running config is not the file's last state). */
  configValid(): boolean;
  reloads(): { applied: number; refused: number };
  /** True while every watched config file is watched (live reload); false when off or failed. */
  watching(): boolean;
}

const BREAKER_STATES: CircuitState[] = ['closed', 'halfOpen', 'open'];
const SERVER_STATES = ['running', 'starting', 'stopped', 'open'];
const OWNERSHIP_STATES = ['owned', 'waiting', 'claiming', 'not-owned', 'closed'];

const oneHot = (label: string, states: string[], current: string | null | undefined, extra: Labels = {}) =>
  states.map((state): [Labels, number] => [{ ...extra, [label]: state }, state === current ? 1 : 0]);

/** Every metric of the daemon, in one place. Returns the counters the daemon increments itself. */
export function defineDaemonMetrics(m: Metrics, source: DaemonMetricsSource) {
  const counters = {
    transitions: m.counter(
      'spawnguard_breaker_transitions_total',
      'Circuit breaker state changes, by breaker, from and to.',
    ),
    reaped: m.counter(
      'spawnguard_reaped_processes_total',
      'Processes killed: leftovers of a dead daemon at boot, or this daemon’s children at shutdown.',
    ),
    requests: m.counter('spawnguard_http_requests_total', 'HTTP requests, by route and status.'),
  };
  m.gauge('spawnguard_info', 'Worker identity.', () => [[{ version: VERSION, naive: String(source.naive) }, 1]]);
  m.gauge(
    'spawnguard_uptime_seconds',
    'Seconds since the daemon started.',
    () => (Date.now() - source.startedAt) / 1000,
  );
  m.gauge('spawnguard_breaker_state', 'Circuit state, one series per state (1 = current).', () =>
    source
      .breakers()
      .flatMap((b) => (b ? oneHot('state', BREAKER_STATES, b.state, { breaker: b.name ?? 'unnamed' }) : [])),
  );
  const perServer = (pick: (s: ReturnType<DaemonMetricsSource['servers']>[number]) => number | null) => () =>
    source.servers().flatMap((s): Array<[Labels, number]> => {
      const value = pick(s);
      return value === null ? [] : [[{ server: s.name }, value]];
    });
  m.gauge('spawnguard_mcp_server_state', 'MCP server state, one series per state (1 = current).', () =>
    source.servers().flatMap((s) => oneHot('state', SERVER_STATES, s.state, { server: s.name })),
  );
  m.counterFrom(
    'spawnguard_mcp_backend_starts_total',
    'MCP backend processes started, failed starts included.',
    perServer((s) => s.starts),
  );
  m.counterFrom(
    'spawnguard_mcp_backend_restarts_total',
    'MCP backends started again after one had exited on its own.',
    perServer((s) => s.restarts),
  );
  m.gauge(
    'spawnguard_mcp_sessions',
    'Open MCP client sessions.',
    perServer((s) => s.sessions),
  );
  m.gauge(
    'spawnguard_mcp_inflight_requests',
    'Client requests forwarded to a backend and not answered yet.',
    perServer((s) => s.inFlight),
  );
  m.gauge(
    'spawnguard_mcp_backend_rss_bytes',
    'Resident memory of the backend process(es) (Linux).',
    perServer((s) => s.rssBytes),
  );
  m.gauge('spawnguard_children', 'Children recorded in the process registry.', source.children);
  m.gauge(
    'spawnguard_registry_ownership',
    'Who holds the process registry file, one series per state (1 = current).',
    () => oneHot('state', OWNERSHIP_STATES, source.ownership()),
  );
  m.gauge('spawnguard_http_connections', 'Open HTTP requests being served.', source.connections);
  m.gauge(
    'spawnguard_config_valid',
    'The servers config in force is the file’s last state (1), or the last reload refused it and the previous one runs (0).',
    () => (source.configValid() ? 1 : 0),
  );
  m.counterFrom('spawnguard_config_reloads_total', 'Reloads of the servers config (SIGHUP or live), by result.', () => {
    const { applied, refused } = source.reloads();
    return [
      [{ result: 'applied' }, applied],
      [{ result: 'refused' }, refused],
    ];
  });
  m.gauge(
    'spawnguard_config_watching',
    'The servers config and env file are watched for live reload (1), or not: off, or a folder not watchable (0).',
    () => (source.watching() ? 1 : 0),
  );
  m.gauge('spawnguard_events_received', 'Events received by POST /events since boot.', source.eventsReceived);
  return counters;
}

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
    const family = this.#family(name, help, 'gauge');
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

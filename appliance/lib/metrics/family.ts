/**
 * Metric families in Prometheus text exposition format 0.0.4. Each family is rendered once, HELP and TYPE
 * first and all its series together: families from several processes are merged by name before rendering
 * (a second TYPE line for a name is an error to Prometheus and promtool).
 */

export type MetricType = "counter" | "gauge";

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** A family of one unlabelled sample. */
export const single = (type: MetricType, name: string, help: string, value: number): MetricFamily => ({
  name,
  help,
  type,
  samples: [{ labels: {}, value }],
});

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function labelText(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${esc(v)}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

/** The lines of `families`: HELP, TYPE, then one line per sample. */
export function renderFamilies(families: readonly MetricFamily[]): string[] {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${s.value}`);
  }
  return out;
}

/** `families` with `label="value"` first on every sample (which process they came from). */
export function withLabel(families: readonly MetricFamily[], label: string, value: string): MetricFamily[] {
  return families.map((f) => ({
    ...f,
    samples: f.samples.map((s) => ({ ...s, labels: { [label]: value, ...s.labels } })),
  }));
}

/** One family per name, samples in the order given; the first family's HELP and TYPE win. */
export function mergeFamilies(families: readonly MetricFamily[]): MetricFamily[] {
  const byName = new Map<string, MetricFamily>();
  for (const f of families) {
    const seen = byName.get(f.name);
    if (seen) seen.samples.push(...f.samples);
    else byName.set(f.name, { ...f, samples: [...f.samples] });
  }
  return [...byName.values()];
}

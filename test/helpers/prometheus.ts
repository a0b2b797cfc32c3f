/** Reading a Prometheus text exposition in tests. */

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The sample lines of `name` whose labels include all of `labels`. */
export function metricLines(text: string, name: string, labels: Record<string, string> = {}): string[] {
  return text.split("\n").filter((line) => {
    const m = SAMPLE.exec(line);
    if (!m || m[1] !== name) return false;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(LABEL)].map((l) => [l[1], l[2]]));
    return Object.entries(labels).every(([k, v]) => have[k] === v);
  });
}

/** The sum of those samples' values (0 when there is none). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  return metricLines(text, name, labels).reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

export {
  type MetricFamily,
  type MetricType,
  mergeFamilies,
  renderFamilies,
  type Sample,
  withLabel,
} from "./family.js";
export { osFamilies, type ProcStats, procFamilies, procStats } from "./proc.js";
export { openFds, type ProcessSampler, startProcessSampler } from "./process.js";
export { type Counter, MetricsRegistry } from "./registry.js";

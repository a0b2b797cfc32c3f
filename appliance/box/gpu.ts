/**
 * GPUs through `nvidia-smi` when the box has one (the driver utilities ship with the NVIDIA driver); null when
 * it is missing. Runs at most every `everyMs` with a short time-out, so a wedged driver cannot stall status.
 */
import { execFile } from "node:child_process";

export interface GpuInfo {
  index: number;
  name: string;
  utilizationPercent: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  temperatureC: number | null;
}

/** The fields asked of nvidia-smi, in this order. */
export const NVIDIA_SMI_ARGS = [
  "--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu",
  "--format=csv,noheader,nounits",
];

const MIB = 1024 * 1024;

/** A number from nvidia-smi, or null for `[N/A]`, `[Not Supported]` and the like. */
function num(s: string | undefined): number | null {
  const v = Number(s?.trim());
  return s !== undefined && s.trim() !== "" && Number.isFinite(v) ? v : null;
}

/** Parses `nvidia-smi --query-gpu=… --format=csv,noheader,nounits` output (memory in MiB). */
export function parseNvidiaSmi(csv: string): GpuInfo[] {
  const out: GpuInfo[] = [];
  for (const line of csv.split("\n")) {
    if (!line.trim()) continue;
    const f = line.split(",").map((x) => x.trim());
    if (f.length < 6) continue;
    const index = num(f[0]);
    if (index === null) continue;
    // A GPU name may itself hold commas: the five numeric fields are the first and the last four.
    const name = f.slice(1, f.length - 4).join(", ");
    const [util, used, total, temp] = f.slice(-4);
    const mem = (x: string | undefined) => {
      const v = num(x);
      return v === null ? null : v * MIB;
    };
    out.push({
      index,
      name,
      utilizationPercent: num(util),
      memoryUsedBytes: mem(used),
      memoryTotalBytes: mem(total),
      temperatureC: num(temp),
    });
  }
  return out;
}

/** A cached reader: GPUs, or null when nvidia-smi is absent or fails (checked again after `retryMs`). */
export function gpuSampler(
  bin = "nvidia-smi",
  everyMs = 2000,
  retryMs = 60_000,
): () => Promise<GpuInfo[] | null> {
  let value: GpuInfo[] | null = null;
  let at = 0;
  let pending: Promise<GpuInfo[] | null> | null = null;
  const run = () =>
    new Promise<GpuInfo[] | null>((resolve) => {
      execFile(bin, NVIDIA_SMI_ARGS, { timeout: 2000, encoding: "utf8" }, (err, stdout) => {
        resolve(err ? null : parseNvidiaSmi(stdout));
      });
    });
  return () => {
    const age = Date.now() - at;
    if (at && age < (value === null ? retryMs : everyMs)) return Promise.resolve(value);
    pending ??= run().then((v) => {
      value = v;
      at = Date.now();
      pending = null;
      return v;
    });
    return pending;
  };
}

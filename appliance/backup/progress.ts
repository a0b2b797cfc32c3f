/** Progress reporting for long runs: a running byte count per phase, throttled for callers that redraw. */
import type { BackupProgress } from "./types.js";

export function progressReporter(onProgress?: (p: BackupProgress) => void) {
  const state: BackupProgress = { phase: "databases", bytesDone: 0, bytesTotal: 0 };
  let last = 0;
  const emit = (force = false) => {
    if (!onProgress) return;
    const now = performance.now();
    if (!force && now - last < 100) return;
    last = now;
    onProgress({ ...state });
  };
  return {
    phase(phase: BackupProgress["phase"], current?: string) {
      state.phase = phase;
      state.current = current;
      emit(true);
    },
    total(bytes: number) {
      state.bytesTotal = bytes;
      emit(true);
    },
    add(bytes: number) {
      state.bytesDone += bytes;
      emit();
    },
    done() {
      state.phase = "done";
      state.current = undefined;
      state.bytesDone = state.bytesTotal;
      emit(true);
    },
  };
}

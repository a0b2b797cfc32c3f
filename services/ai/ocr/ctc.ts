/** Greedy CTC decoding of the recogniser's output: best class per step, repeats collapsed, blanks (0) dropped. */

/** Text and mean confidence of one line from a `steps`×`classes` probability matrix. */
export function ctcDecode(
  probs: Float32Array,
  steps: number,
  classes: number,
  dict: string[],
): { text: string; confidence: number } {
  let text = "";
  let sum = 0;
  let n = 0;
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    let bestP = -1;
    const base = t * classes;
    for (let k = 0; k < classes; k++) {
      const p = probs[base + k] as number;
      if (p > bestP) {
        bestP = p;
        best = k;
      }
    }
    if (best !== 0 && best !== prev) {
      text += dict[best - 1] ?? "";
      sum += bestP;
      n++;
    }
    prev = best;
  }
  return { text, confidence: n > 0 ? sum / n : 0 };
}

/** The recogniser's dictionary: one character per line, and the space the model was trained with last. */
export function parseDict(content: string): string[] {
  const lines = content.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  return [...lines, " "];
}

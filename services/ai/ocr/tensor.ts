/** Image regions to normalised CHW float tensors (BGR channel order, as PaddleOCR's models were trained). */

export interface Rgb {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Samples `r` of `img` bilinearly into a `nw`×`nh` image placed at the left of a `padW`-wide tensor (zeros
 * after), each channel as (v/255 − mean)/std. `flip` turns the region 180°.
 */
export function regionTensor(
  img: Rgb,
  r: Region,
  nw: number,
  nh: number,
  norm: { mean: number[]; std: number[] },
  padW = nw,
  flip = false,
): Float32Array {
  const out = new Float32Array(3 * nh * padW);
  const plane = nh * padW;
  const sx = r.w / nw;
  const sy = r.h / nh;
  for (let y = 0; y < nh; y++) {
    const fy = Math.min(img.height - 1, Math.max(0, r.y + (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(img.height - 1, y0 + 1);
    const dy = fy - y0;
    for (let x = 0; x < nw; x++) {
      const fx = Math.min(img.width - 1, Math.max(0, r.x + (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(img.width - 1, x0 + 1);
      const dx = fx - x0;
      const tx = flip ? nw - 1 - x : x;
      const ty = flip ? nh - 1 - y : y;
      for (let c = 0; c < 3; c++) {
        const at = (px: number, py: number) => img.data[(py * img.width + px) * 3 + c] as number;
        const v =
          (at(x0, y0) * (1 - dx) + at(x1, y0) * dx) * (1 - dy) +
          (at(x0, y1) * (1 - dx) + at(x1, y1) * dx) * dy;
        const bgr = 2 - c;
        out[bgr * plane + ty * padW + tx] =
          (v / 255 - (norm.mean[bgr] as number)) / (norm.std[bgr] as number);
      }
    }
  }
  return out;
}

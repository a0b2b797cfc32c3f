/**
 * H.264 encoders by hardware profile: the profile's `ffmpeg.h264Encoders` in order (h264_nvenc/hevc_nvenc on
 * NVIDIA boxes, h264_v4l2m2m on a Raspberry Pi, h264_vaapi on Intel/AMD graphics when a profile lists it), always ending with libx264, the software encoder every
 * ffmpeg build here has. A hardware encoder that fails at run time makes the pipeline try the next one; the
 * job records the one that worked.
 */

export const SOFTWARE = "libx264";

/** The encoders to try, in order: the profile's preference (deduplicated), then libx264. */
export function encoderChain(preferred: readonly string[]): string[] {
  const chain = preferred.filter((e, i) => /^[a-z0-9_]+$/.test(e) && preferred.indexOf(e) === i);
  return chain.includes(SOFTWARE) ? [...chain.filter((e) => e !== SOFTWARE), SOFTWARE] : [...chain, SOFTWARE];
}

/** True for an encoder that may fail at run time on a box without the hardware (worth a fallback). */
export const isHardware = (encoder: string) => encoder !== SOFTWARE;

/** Video codec options for `encoder`; `preset` applies to libx264. */
export function encoderArgs(encoder: string, preset: string): string[] {
  switch (encoder) {
    case "libx264":
      return ["-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", "-sc_threshold", "0"];
    case "h264_nvenc":
      return ["-c:v", "h264_nvenc", "-preset", "p4", "-pix_fmt", "yuv420p", "-forced-idr", "1"];
    case "hevc_nvenc":
      return [
        "-c:v",
        "hevc_nvenc",
        "-preset",
        "p4",
        "-pix_fmt",
        "yuv420p",
        "-forced-idr",
        "1",
        "-tag:v",
        "hvc1",
      ];
    case "h264_v4l2m2m":
      return ["-c:v", "h264_v4l2m2m", "-pix_fmt", "yuv420p"];
    case "h264_vaapi":
      // Frames reach the encoder on the GPU (hwupload in the filter graph); no -pix_fmt here.
      return ["-c:v", "h264_vaapi"];
    default:
      // Any other name the profile lists goes through as is; ffmpeg refuses it if unknown and the chain
      // falls back.
      return ["-c:v", encoder, "-pix_fmt", "yuv420p"];
  }
}

/** Device options that go before `-i` (VAAPI's render node); none for the others. */
export function encoderInputArgs(encoder: string, device = "/dev/dri/renderD128"): string[] {
  return encoder === "h264_vaapi" ? ["-vaapi_device", device] : [];
}

/** What ends each video filter chain for `encoder`: VAAPI takes NV12 frames uploaded to the GPU. */
export function encoderFilterSuffix(encoder: string): string {
  return encoder === "h264_vaapi" ? ",format=nv12,hwupload" : "";
}

/**
 * Runs `attempt` with each encoder of the chain until one succeeds. `retryable` tells a failure that a
 * different encoder could fix (an ffmpeg exit) from one it could not (cancelled, over a limit).
 */
export async function withFallback<T>(
  chain: readonly string[],
  attempt: (encoder: string) => Promise<T>,
  retryable: (err: unknown) => boolean,
  onFallback?: (from: string, err: unknown) => void,
): Promise<{ result: T; encoder: string }> {
  let last: unknown;
  for (const encoder of chain) {
    try {
      return { result: await attempt(encoder), encoder };
    } catch (err) {
      last = err;
      if (!isHardware(encoder) || !retryable(err)) throw err;
      onFallback?.(encoder, err);
    }
  }
  throw last;
}

/** ffmpeg arguments that encode one frame with `encoder`: a real check that the hardware works. */
export function oneFrameTestArgs(encoder: string): string[] {
  return [
    "-hide_banner",
    "-v",
    "error",
    ...encoderInputArgs(encoder),
    "-f",
    "lavfi",
    "-i",
    "color=c=black:s=256x256:r=25:d=0.04",
    ...(encoderFilterSuffix(encoder) ? ["-vf", encoderFilterSuffix(encoder).slice(1)] : []),
    "-frames:v",
    "1",
    ...encoderArgs(encoder, "ultrafast"),
    "-f",
    "null",
    "-",
  ];
}

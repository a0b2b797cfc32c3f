/**
 * A file's media, from the media service: job progress while it runs; when done, the video through hls.js
 * (bundled, no CDN) on the signed playback URL, a photo's variants, or an audio file with its waveform.
 */
import Hls from "hls.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { get, messageOf } from "../api";

interface MediaJob {
  id: string;
  state: string;
  kind: string | null;
  progress: number;
  etaSeconds: number | null;
  stage: string | null;
  encoder: string | null;
  error: string | null;
}
interface MediaDetail {
  job: MediaJob;
  outputs: { name: string; size: number; contentType: string }[];
  playback: { base: string; expiresAt: string } | null;
}

const open = (state: string) => state === "queued" || state === "running";

/**
 * The latest media job of `nodeId` and its outputs. While it runs, its progress comes from the media
 * service's SSE stream (`/api/media/events`); when it ends, the detail (outputs, playback URL) is read again.
 * Without SSE (the stream failed) it falls back to polling once a second.
 */
export function MediaPreview({ nodeId, name }: { nodeId: string; name: string }) {
  const [detail, setDetail] = useState<MediaDetail | null>(null);
  const [note, setNote] = useState<string>("Looking for media…");
  useEffect(() => {
    let timer = 0;
    let gone = false;
    let events: EventSource | null = null;
    const load = async () => {
      try {
        const { jobs } = await get<{ jobs: MediaJob[] }>(`/api/media/jobs?nodeId=${nodeId}&limit=1`);
        const job = jobs[0];
        if (!job) return setNote("No media made from this file.");
        const d = await get<MediaDetail>(`/api/media/jobs/${job.id}`);
        if (gone) return;
        setDetail(d);
        if (open(d.job.state)) follow(d.job.id);
        else events?.close();
      } catch (err) {
        setNote(messageOf(err));
      }
    };
    let sse: "none" | "open" | "failed" = typeof EventSource === "undefined" ? "failed" : "none";
    const follow = (id: string) => {
      if (sse === "open") return;
      if (sse === "failed") {
        timer = window.setTimeout(load, 1000);
        return;
      }
      sse = "open";
      events = new EventSource("/api/media/events");
      events.addEventListener("job", (e) => {
        const job = JSON.parse((e as MessageEvent<string>).data) as MediaJob;
        if (gone || job.id !== id) return;
        if (open(job.state)) setDetail((d) => (d ? { ...d, job } : d));
        else void load();
      });
      events.onerror = () => {
        events?.close();
        sse = "failed";
        if (!gone) timer = window.setTimeout(load, 1000);
      };
      void load(); // what changed between the first read and the stream's start
    };
    void load();
    return () => {
      gone = true;
      clearTimeout(timer);
      events?.close();
    };
  }, [nodeId]);
  if (!detail) return <p class="small">{note}</p>;
  const { job, outputs, playback } = detail;
  if (job.state !== "done" || !playback) {
    return (
      <div class="media-job" aria-live="polite">
        <p>
          Media: {job.state}
          {job.stage ? ` (${job.stage})` : ""}
          {job.error ? `: ${job.error}` : ""}
        </p>
        {(job.state === "running" || job.state === "queued") && (
          <label>
            {job.progress}%{job.etaSeconds ? `, about ${Math.ceil(job.etaSeconds)} s left` : ""}
            <progress max={100} value={job.progress} />
          </label>
        )}
      </div>
    );
  }
  const url = (n: string) => `${playback.base}${n}`;
  const has = (n: string) => outputs.some((o) => o.name === n);
  if (job.kind === "video")
    return <HlsVideo src={url("master.m3u8")} poster={url("thumb_1.jpg")} name={name} />;
  if (job.kind === "audio")
    return <AudioWave src={url("audio.m4a")} peaks={url("waveform.json")} name={name} />;
  const variants = outputs.filter((o) => o.contentType === "image/webp" || o.contentType === "image/jpeg");
  return (
    <ul class="plain-list media-variants" aria-label={`Variants of ${name}`}>
      {variants.map((v) => (
        <li key={v.name}>
          <a href={url(v.name)} target="_blank" rel="noreferrer">
            <img src={url(v.name)} alt={`${name}, ${v.name}`} style={{ maxWidth: "160px" }} />
          </a>{" "}
          {v.name}
        </li>
      ))}
      {!has("w320.jpg") && variants.length === 0 && <li>No variants.</li>}
    </ul>
  );
}

/** A `<video>` fed by hls.js (MSE); Safari-style native HLS where the browser has it and MSE is missing. */
function HlsVideo({ src, poster, name }: { src: string; poster: string; name: string }) {
  const ref = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const video = ref.current;
    if (!video) return;
    if (!Hls.isSupported()) {
      video.src = src;
      return;
    }
    // No worker: the console's CSP allows no blob: scripts; demuxing on the main thread is fine for a preview.
    const hls = new Hls({ enableWorker: false });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (data.fatal) setError(`${data.type}: ${data.details}`);
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    return () => hls.destroy();
  }, [src]);
  return (
    <div class="media-video">
      <video
        ref={ref}
        controls
        muted
        playsInline
        poster={poster}
        aria-label={`Video ${name}`}
        style={{ maxWidth: "100%" }}
      />
      {error && <p role="alert">Playback failed: {error}</p>}
    </div>
  );
}

/** An audio player and its waveform drawn as bars. */
function AudioWave({ src, peaks, name }: { src: string; peaks: string; name: string }) {
  const [values, setValues] = useState<number[]>([]);
  useEffect(() => {
    void fetch(peaks, { credentials: "same-origin" })
      .then((r) => r.json() as Promise<{ peaks: number[] }>)
      .then((w) => setValues(w.peaks))
      .catch(() => setValues([]));
  }, [peaks]);
  const w = Math.max(values.length, 1);
  return (
    <div class="media-audio">
      {/* biome-ignore lint/a11y/useMediaCaption: uploads come without captions; none can be offered */}
      <audio controls src={src} aria-label={`Audio ${name}`} />
      <svg
        viewBox={`0 0 ${w} 100`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`Waveform of ${name}`}
        style={{ width: "100%", height: "48px" }}
      >
        {values.map((v, i) => (
          <rect
            key={i}
            x={i}
            y={50 - v * 50}
            width={0.8}
            height={Math.max(v * 100, 0.5)}
            fill="currentColor"
          />
        ))}
      </svg>
    </div>
  );
}

/**
 * QR codes drawn in the browser (the `qrcode` package, bundled: nothing leaves the box). ODK Collect reads its
 * settings from a QR code holding the settings JSON zlib-deflated and base64-encoded, as ODK Central draws it.
 */

import { useEffect, useRef } from "preact/hooks";
import QRCode from "qrcode";

/** Collect's QR payload: base64(zlib(JSON)). */
export async function collectQrText(settings: unknown): Promise<string> {
  const stream = new Blob([JSON.stringify(settings)]).stream().pipeThrough(new CompressionStream("deflate"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** A canvas with `text` as a QR code; `label` names it for screen readers. */
export function QrCanvas({ text, label }: { text: string; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (ref.current && text) void QRCode.toCanvas(ref.current, text, { margin: 2, width: 240 });
  }, [text]);
  return <canvas ref={ref} class="qr" role="img" aria-label={label} />;
}

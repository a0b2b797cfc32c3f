/**
 * The console's uploads, with tus (the files service's /api/files/tus, docs/files.md#tus): what reached the
 * box before a dropped connection or a restart of the service is kept, and the upload goes on from there. A
 * page reload does not lose it either: tus-js-client keeps the upload's URL in localStorage, keyed by the
 * target and the file, and the same file sent to the same place again resumes instead of starting over.
 */
import { type DetailedError, Upload } from "tus-js-client";
import { ApiError, headersFor, markUnreachable } from "../api";

/** Where a file goes: a space and a path from its root. */
export interface Target {
  space: string;
  path: string;
}

/** Uploads `file` to `target`, reporting whole percents; rejects with an ApiError carrying the box's message. */
export function tusUpload(target: Target, file: File, onProgress: (pct: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload: Upload = new Upload(file, {
      endpoint: new URL("/api/files/tus", location.origin).href,
      metadata: { space: target.space, path: target.path, filetype: file.type || "application/octet-stream" },
      // The session cookie goes with every request (same origin); state-changing ones need the CSRF token.
      headers: headersFor("PATCH"),
      fingerprint: async (f: File) =>
        ["nexus-tus", target.space, target.path, f.size, f.lastModified].join(":"),
      removeFingerprintOnSuccess: true,
      retryDelays: [0, 1000, 3000, 5000, 10_000, 20_000],
      // Once the upload exists, never create another: tus-js-client answers a failed HEAD (a 503 from the
      // gateway while the files service restarts) by starting a new upload from byte 0. Without an endpoint
      // it retries the HEAD instead, and goes on from the box's confirmed offset.
      onUploadUrlAvailable: () => {
        upload.options.endpoint = null;
      },
      onProgress: (sent, total) => onProgress(total ? Math.floor((sent / total) * 100) : 100),
      onSuccess: () => resolve(),
      onError: (err) => reject(apiErrorOf(err)),
    });
    upload
      .findPreviousUploads()
      .then((previous) => {
        if (previous[0]) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      })
      .catch((err: Error) => reject(apiErrorOf(err)));
  });
}

/** The box's `{ status, message }` when it answered; "cannot be reached" when nothing came back. */
function apiErrorOf(err: Error | DetailedError): ApiError {
  const { originalRequest, originalResponse: res } = err as Partial<DetailedError>;
  if (!res && originalRequest) {
    markUnreachable();
    return new ApiError(0, "The appliance cannot be reached.");
  }
  if (!res) return new ApiError(0, err.message); // refused before any request (the file could not be read)
  let message = `upload failed (${res.getStatus()})`;
  try {
    message = (JSON.parse(res.getBody()) as { message?: string }).message ?? message;
  } catch {
    // not JSON (an answer from something in between)
  }
  return new ApiError(res.getStatus(), message);
}

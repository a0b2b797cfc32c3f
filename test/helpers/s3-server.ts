/**
 * A real S3-protocol server for tests: s3rver as its own child process on a free loopback port, with its data
 * in a temp dir that stop() removes. s3rver implements enough of S3 for the blob store (buckets, objects,
 * ranges, multipart upload, ListObjectsV2), not AbortMultipartUpload or ListMultipartUploads.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { removeDir, tempDir, waitFor } from "./appliance.js";
import { stopChild } from "./processes.js";

export interface S3TestServer {
  endPoint: string;
  port: number;
  useSSL: false;
  accessKey: string;
  secretKey: string;
  stop(): Promise<void>;
}

const S3RVER_BIN = createRequire(import.meta.url).resolve("s3rver/bin/s3rver.js");

/** Starts s3rver (credentials S3RVER/S3RVER) and waits until it answers HTTP. */
export async function startS3Server(): Promise<S3TestServer> {
  const dir = tempDir("nexus-s3rver-");
  const child = spawn(process.execPath, [S3RVER_BIN, "-d", dir, "-a", "127.0.0.1", "-p", "0", "-s"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c) => {
    out += c;
  });
  child.stderr.on("data", (c) => {
    out += c;
  });
  const stop = async () => {
    await stopChild(child);
    removeDir(dir);
  };
  try {
    const port = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`s3rver exited with ${child.exitCode}:\n${out}`);
        const m = /listening on [^\s:]+:(\d+)/.exec(out);
        return m ? Number(m[1]) : 0;
      },
      20_000,
      `s3rver to listen; output so far:\n${out}`,
    );
    // Any HTTP answer will do (an unsigned request is refused): the server is up.
    await waitFor(
      () =>
        fetch(`http://127.0.0.1:${port}/`).then(
          () => true,
          () => false,
        ),
      10_000,
      "s3rver to answer",
    );
    return { endPoint: "127.0.0.1", port, useSSL: false, accessKey: "S3RVER", secretKey: "S3RVER", stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

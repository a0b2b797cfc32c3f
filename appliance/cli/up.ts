/** `nexus up`: starts the appliance in the foreground and shows start-up progress. Ctrl-C / SIGTERM stop it. */
import { mkdirSync, openSync } from "node:fs";
import { Writable } from "node:stream";
import { pino } from "pino";
import { startAppliance } from "../appliance.js";
import { incompleteRestore } from "../backup/markers.js";
import { type ConfigOverrides, loadApplianceConfig } from "../config/load.js";
import { LogDestination } from "../kit/log-destination.js";
import { REDACT_PATHS } from "../kit/logger.js";
import { prettyLogLine, progressBar } from "../lib/format.js";
import { applianceVersion, dataPaths } from "../paths.js";

/**
 * Supervisor log: JSON lines to logs/supervisor.log, warnings and errors also readable on stderr. Lines a full
 * disk cannot take are dropped and counted (a write stream would throw ENOSPC and take the whole box down).
 */
function supervisorLogger(logFile: string, level: string) {
  const file = new LogDestination(openSync(logFile, "a", 0o640));
  const stderr = new Writable({
    write(chunk, _enc, cb) {
      process.stderr.write(`  ${prettyLogLine(String(chunk).trimEnd())}\n`);
      cb();
    },
  });
  const log = pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.multistream([
      { level: level as pino.Level, stream: file },
      { level: "warn", stream: stderr },
    ]),
  );
  return { log, dropped: () => file.dropped };
}

export async function up(overrides: ConfigOverrides): Promise<void> {
  const config = loadApplianceConfig(overrides);
  const paths = dataPaths(config.dataDir);
  const unfinished = await incompleteRestore(config.dataDir);
  if (unfinished) {
    throw new Error(`the restore of ${unfinished} did not finish: run it again before starting the box`);
  }
  mkdirSync(paths.logs, { recursive: true });
  const { log, dropped } = supervisorLogger(paths.logFile("supervisor"), config.logLevel);
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(1);

  console.log(`Nexus Edge ${applianceVersion()} — data dir ${paths.root}`);
  const app = await startAppliance(config, log, { logLinesDropped: dropped });
  const units = Object.keys(app.supervisor.current.units);
  const total = units.length;
  let shownDone = -1;
  app.supervisor.on("nats", (state: string) => {
    if (state === "running") console.log(`  nats-server running (${secs()}s)`);
  });
  app.supervisor.on("unit", (name: string, state: string) => {
    if (state === "crashloop") {
      console.log(`  ${name}: crash loop, retried with growing pauses — see \`nexus logs ${name}\``);
    }
    const done = Object.values(app.supervisor.current.units).filter((u) => u.state === "running").length;
    if (done !== shownDone && state === "running") {
      shownDone = done;
      console.log(`  ${progressBar(done, total, `${name} ready (${secs()}s)`)}`);
    }
  });

  const onSignal = (sig: string) => {
    console.log(`\n${sig}: stopping (services drain, then nats-server)…`);
    void app.stop();
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));

  try {
    await app.supervisor.ready(config.supervisor.startTimeoutMs + 30_000);
    console.log(`\nAll ${total} service(s) ready in ${secs()}s.`);
  } catch (err) {
    console.log(`\nStarted with problems: ${(err as Error).message}. \`nexus status\` shows each service.`);
  }
  console.log(`  Console:  ${app.url}/`);
  if (app.tlsUrl) console.log(`  HTTPS:    ${app.tlsUrl}/   (the LAN listener, gateway.tls)`);
  console.log(`  API:      ${app.url}/api/<service>/…   (OpenAPI: ${app.url}/api/openapi.json)`);
  const first = await app.firstLogin().catch(() => ({ kind: "unavailable" as const }));
  if (first.kind === "setup") {
    console.log(
      `  First login: no admin exists yet. Open this one-time link (valid until ${first.expiresAt}):`,
    );
    console.log(`               ${first.url}`);
    console.log("               or, in a script: nexus admin create --username admin --password-stdin");
  } else if (first.kind === "accounts") {
    console.log("  Log in with your account. Lost the admin password? See `nexus admin --help`.");
  } else if (first.kind === "bootstrap-token") {
    console.log("  First login: without the identity service the API takes the bootstrap admin token");
    console.log(`               in ${first.file} (mode 0600) as \`Authorization: Bearer <token>\`.`);
  } else {
    console.log("  The identity service is not ready: `nexus status` and `nexus logs identity` say why.");
  }
  console.log("  Stop with Ctrl-C or `nexus stop`.");
  await app.stopped;
  console.log("Stopped.");
}

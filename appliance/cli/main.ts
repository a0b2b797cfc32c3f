/** The `nexus` command line. Each command is a thin wrapper over a function in appliance/. */
import { Command } from "commander";
import { loadApplianceConfig, resolveDataDir } from "../config/load.js";
import { controlRequest } from "../control.js";
import { duration, table } from "../lib/format.js";
import { isAlive, readPid } from "../lib/pidfile.js";
import { dataPaths } from "../paths.js";
import { readOutcome } from "../upgrade/marker.js";
import { addBackupCommands } from "./backup.js";
import { fetchStatus } from "./running.js";
import { statusTable, upgradeLine } from "./status.js";
import { count, oneOf, port, runCli, seconds, usageErrors, versionFlag } from "./usage.js";
import { printVersions } from "./version.js";

const program = versionFlag(usageErrors(new Command()))
  .name("nexus")
  .description("Nexus Edge appliance")
  .option("-d, --data-dir <dir>", "data directory (env NEXUS_DATA_DIR)");

const dataDir = () => resolveDataDir(program.opts().dataDir);

program
  .command("up")
  .description("start the appliance in the foreground")
  .option("-p, --port <n>", "gateway port (env NEXUS_PORT; 0 picks a free one)", port)
  .option("--host <addr>", "address the gateway binds (env NEXUS_HOST)")
  .option(
    "--isolation <mode>",
    "process | shared (default from the hardware profile)",
    oneOf("process", "shared"),
  )
  .action(async (o: { port?: number; host?: string; isolation?: "process" | "shared" }) => {
    const { up } = await import("./up.js");
    await up({ dataDir: program.opts().dataDir, port: o.port, host: o.host, isolation: o.isolation });
  });

program
  .command("status")
  .description("show each service's state")
  .option("--json", "machine-readable output")
  .action(async (o: { json?: boolean }) => {
    const s = await fetchStatus(dataDir());
    if (!s) {
      if (o.json) console.log(JSON.stringify({ running: false, services: [] }));
      else console.log(`The appliance is not running (data dir ${dataPaths(dataDir()).root}).`);
      process.exitCode = 3;
      return;
    }
    const lastUpgrade = readOutcome(dataDir());
    if (o.json) {
      console.log(
        JSON.stringify({
          running: true,
          version: s.version,
          gateway: s.gateway,
          nats: s.nats,
          services: s.services,
          lastUpgrade,
        }),
      );
      return;
    }
    console.log(
      `Nexus Edge ${s.version}, supervisor pid ${s.pid}, gateway ${s.gateway}, nats-server ${s.nats.state}\n`,
    );
    console.log(statusTable(s.services));
    if (lastUpgrade) console.log(`\n${upgradeLine(lastUpgrade)}`);
  });

program
  .command("logs <name>")
  .description("print a service's log (or `supervisor`, `nats`)")
  .option("-f, --follow", "keep printing new lines")
  .option("-n, --lines <n>", "lines of history (0: none, with -f only new lines)", count, 100)
  .option("--raw", "print JSON lines as they are")
  .action(async (name: string, o: { follow?: boolean; lines: number; raw?: boolean }) => {
    const { showLogs } = await import("./logs.js");
    await showLogs(dataDir(), name, { follow: !!o.follow, lines: o.lines, raw: !!o.raw });
  });

program
  .command("restart <service>")
  .description("restart a service now, also one in crash loop (shared mode restarts the shared process)")
  .action(async (service: string) => {
    const paths = dataPaths(dataDir());
    const s = await fetchStatus(dataDir());
    if (!s) throw new Error("the appliance is not running");
    const unit = s.services.find((x) => x.name === service)?.unit;
    if (!unit) throw new Error(`no service ${service}; known: ${s.services.map((x) => x.name).join(", ")}`);
    await controlRequest(paths.controlSocket, "POST", `/units/${unit}/restart`, 60_000);
    console.log(`Restarting ${unit}; \`nexus status\` shows when it is running again.`);
  });

program
  .command("stop")
  .description("stop the running appliance gracefully")
  .option("-t, --timeout <s>", "seconds to wait", seconds, 60)
  .action(async (o: { timeout: number }) => {
    const paths = dataPaths(dataDir());
    const pid = readPid(paths.supervisorPid);
    if (!pid) {
      console.log("The appliance is not running.");
      return;
    }
    try {
      await controlRequest(paths.controlSocket, "POST", "/stop");
    } catch {
      process.kill(pid, "SIGTERM");
    }
    process.stdout.write(`Stopping (pid ${pid})`);
    const deadline = Date.now() + o.timeout * 1000;
    while (isAlive(pid) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      process.stdout.write(".");
    }
    if (isAlive(pid)) {
      console.log(" still running; try again or send SIGKILL.");
      process.exitCode = 1;
    } else console.log(" stopped.");
  });

program
  .command("doctor")
  .description("check what the box needs and say how to fix what is missing")
  .option("--json", "machine-readable output")
  .option("-p, --port <n>", "the gateway port to check when no box runs on the data dir", port)
  .option("--host <addr>", "the gateway address to check when no box runs on the data dir")
  .action(async (o: { json?: boolean; port?: number; host?: string }) => {
    const { doctorCommand } = await import("./doctor.js");
    await doctorCommand({ dataDir: program.opts().dataDir, port: o.port, host: o.host }, !!o.json);
  });

const profile = program
  .command("profile")
  .description("hardware profiles: which fits this box, what one holds");
profile
  .command("detect")
  .description("pick the profile from architecture, board model, nvidia-smi, memory and cores, and say why")
  .option("--root <dir>", "the filesystem to look at (default /)")
  .option("--json", "machine-readable output")
  .action(async (o: { root?: string; json?: boolean }) => (await import("./profile.js")).profileDetect(o));
profile
  .command("show [name]")
  .description("print a profile (default: the one the config selects)")
  .option("--json", "machine-readable output")
  .action(async (name: string | undefined, o: { json?: boolean }) =>
    (await import("./profile.js")).profileShow(program.opts().dataDir, name, !!o.json),
  );

program
  .command("upgrade [bundle]")
  .description(
    "install or upgrade from a signed bundle (.tar.gz or folder); health-gated, rolls back by itself",
  )
  .option("--root <dir>", "the installation's root (default: the one this nexus is installed under, or /)")
  .option("--systemd", "start and stop the box through systemd (the default where systemd runs)")
  .option("--no-systemd", "start and stop the supervisor directly instead of through systemd")
  .option("--trust-key <file>", "first install: the release public key (PEM) to verify the bundle with")
  .option("--allow-downgrade", "install a bundle older than the installed version")
  .option("--check-only", "verify the bundle and say whether it may be installed; change nothing")
  .option(
    "--signature-only",
    "with --check-only: signature, validity and version only (install.sh has hashed every file)",
  )
  .option("--resume", "finish or roll back an upgrade a power cut interrupted")
  .option("--no-start", "with --resume: leave the box stopped (systemd starts it next)")
  .option("--from-hub", "download the bundle the hub offers this site, upgrade from it, report the result")
  .action(async (bundle: string | undefined, o: Record<string, string | boolean | undefined>) =>
    o.fromHub
      ? (await import("./upgrade-hub.js")).upgradeFromHub(o)
      : (await import("./upgrade.js")).upgradeCommand(bundle, o),
  );

const admin = program.command("admin").description("accounts, on the box itself (first admin, recovery)");
const siteOf = () => loadApplianceConfig({ dataDir: program.opts().dataDir }).site;
admin
  .command("create")
  .description("create a user (admin by default); prints a temporary password unless --password-stdin")
  .requiredOption("-u, --username <name>", "user name")
  .option("--password-stdin", "read the password from standard input")
  .option("--role <role>", "role to give", "admin")
  .action(async (o: { username: string; passwordStdin?: boolean; role: string }) => {
    await (await import("./admin.js")).adminCreate(dataDir(), siteOf(), o);
  });
admin
  .command("reset-password")
  .description("set a new password (or a temporary one), end the user's sessions and lift any lock")
  .requiredOption("-u, --username <name>", "user name")
  .option("--password-stdin", "read the password from standard input")
  .action(async (o: { username: string; passwordStdin?: boolean }) => {
    await (await import("./admin.js")).adminResetPassword(dataDir(), siteOf(), o);
  });
admin
  .command("unlock")
  .description("lift a login lock")
  .requiredOption("-u, --username <name>", "user name")
  .action(async (o: { username: string }) =>
    (await import("./admin.js")).adminUnlock(dataDir(), siteOf(), o),
  );

const models = program
  .command("models")
  .description("AI model packs on this box: list, install, remove, pin, sign");
models
  .command("list", { isDefault: true })
  .description("installed models with task, runtime, licence and size")
  .option("--json", "machine-readable output")
  .action(async (o: { json?: boolean }) =>
    (await import("./models.js")).modelsList(dataDir(), siteOf(), !!o.json),
  );
models
  .command("install <pack>")
  .description(
    "install a model pack file (tar of manifest.json and its files); refused if anything does not check",
  )
  .action(async (pack: string) => (await import("./models.js")).modelsInstall(dataDir(), siteOf(), pack));
models
  .command("remove <name>")
  .description("remove a model (not a pinned one)")
  .action(async (name: string) => (await import("./models.js")).modelsRemove(dataDir(), siteOf(), name));
models
  .command("pin <name>")
  .description("pin a model at its version (--off to unpin)")
  .option("--off", "unpin")
  .action(async (name: string, o: { off?: boolean }) =>
    (await import("./models.js")).modelsPin(dataDir(), siteOf(), name, !o.off),
  );
models
  .command("sign <pack>")
  .description("sign a pack file (ed25519 over its manifest.json) so boxes trusting the key install it")
  .requiredOption("--key <pem>", "ed25519 private key (PEM, PKCS#8)")
  .option("-o, --out <file>", "write the signed pack here (default: replace the pack)")
  .action(async (pack: string, o: { key: string; out?: string }) =>
    (await import("./models.js")).modelsSign(pack, o.key, o.out),
  );

program
  .command("version")
  .description("print versions (also: nexus --version)")
  .option("--json", "machine-readable output")
  .action((o: { json?: boolean }) => printVersions(program.opts().dataDir, o.json));

addBackupCommands(program, dataDir);

const hub = program.command("hub").description("the central hub: enrolment, fleet registry, sync ingest");
hub
  .command("start", { isDefault: true })
  .description("run the hub in the foreground (PGlite in its data dir, or PostgreSQL with --database-url)")
  .option("--hub-dir <dir>", "hub data directory (env NEXUS_HUB_DATA_DIR)")
  .option("-p, --port <n>", "HTTP port (env NEXUS_HUB_PORT, default 7400)", port)
  .option("--host <addr>", "HTTP address (env NEXUS_HUB_HOST, default 127.0.0.1)")
  .option("--leaf-port <n>", "leafnode port for the boxes (env NEXUS_HUB_LEAF_PORT, default 7422)", port)
  .option("--leaf-host <addr>", "leafnode address (env NEXUS_HUB_LEAF_HOST, default 0.0.0.0)")
  .option(
    "--public-leaf-url <url>",
    "what boxes dial, e.g. nats-leaf://hub.example.org:7422 (env NEXUS_HUB_PUBLIC_LEAF_URL)",
  )
  .option("--database-url <url>", "PostgreSQL connection string (env NEXUS_HUB_DATABASE_URL)")
  .option(
    "--nats-url <urls>",
    "use an existing NATS cluster (comma-separated URLs) instead of starting nats-server",
  )
  .option("--nats-auth-file <file>", "with --nats-url: the site users file the cluster's config includes")
  .option("--nats-reload-command <cmd>", "with --nats-url: how to make the cluster reload that file")
  .action(async (o: Record<string, string | number | undefined>) =>
    (await import("./hub.js")).runHub({ ...o, dataDir: o.hubDir as string | undefined }),
  );
hub
  .command("token <site>")
  .description("a one-time enrolment token for a site (the box runs: nexus enroll <hub-url> <token>)")
  .option("--hub-dir <dir>", "hub data directory")
  .option("--ttl <seconds>", "token lifetime (default 86400)", seconds)
  .action(async (site: string, o: { hubDir?: string; ttl?: number }) => {
    const r = await (await import("./hub.js")).hubAdmin(o.hubDir, "POST", "/api/hub/tokens", {
      site,
      ...(o.ttl ? { ttlSeconds: o.ttl } : {}),
    });
    console.log(JSON.stringify(r, null, 2));
  });
hub
  .command("sites")
  .description("the fleet: sites, last seen, version, sync lag")
  .option("--hub-dir <dir>", "hub data directory")
  .option("--json", "machine-readable output (the hub API's answer)")
  .action(async (o: { hubDir?: string; json?: boolean }) =>
    (await import("./hub-sites.js")).hubSites(o.hubDir, !!o.json),
  );
hub
  .command("revoke <site>")
  .description("cut a site off")
  .option("--hub-dir <dir>", "hub data directory")
  .action(async (site: string, o: { hubDir?: string }) => {
    await (await import("./hub.js")).hubAdmin(
      o.hubDir,
      "DELETE",
      `/api/hub/sites/${encodeURIComponent(site)}`,
    );
    console.log(`Site ${site} revoked: its link is cut.`);
  });

program
  .command("sync")
  .description("sync with the hub")
  .command("status")
  .description("link up/down, changes waiting for the hub, last acknowledgement, lag")
  .option("--json", "machine-readable output")
  .action(async (o: { json?: boolean }) => {
    const { syncStatus } = await import("../sync-status.js");
    const s = await syncStatus(dataDir());
    const offered = await (await import("./upgrade-hub.js")).offeredBundle(dataDir());
    if (o.json) return console.log(JSON.stringify({ ...s, offeredBundle: offered }));
    if (!s.enrolled) {
      console.log("Not enrolled with a hub: everything stays on this box (nexus enroll <hub-url> <token>).");
    } else {
      const tls = { "pinned-ca": "TLS, hub's CA pinned", "system-ca": "TLS", none: "not encrypted" };
      console.log(`Site ${s.site}, hub ${s.hubUrl}: link ${s.link} (${tls[s.linkTls ?? "none"]})`);
      if (offered)
        console.log(`The hub offers bundle ${offered.version} (install: nexus upgrade --from-hub)`);
    }
    console.log(
      `${s.backlog} change(s) waiting for the hub${s.backlog ? `, oldest ${duration(s.lagSeconds)} old` : ""}; ` +
        `last acknowledged ${s.lastAckAt ?? "never"}`,
    );
    if (s.services.length) {
      console.log(
        table(
          ["SERVICE", "WAITING", "UNPUBLISHED", "ACKED SEQ", "ACKED AT"],
          s.services.map((x) => [
            x.service,
            String(x.pending),
            String(x.unpublished),
            String(x.ackedSeq),
            x.ackedAt ?? "-",
          ]),
        ),
      );
    }
  });

program
  .command("enroll <hub-url> <token>")
  .description("link this (stopped) box to a hub with a one-time token")
  .option("--allow-http", "allow a plain http:// hub URL to another machine (a network you trust)")
  .action(async (hubUrl: string, token: string, o: { allowHttp?: boolean }) =>
    (await import("./hub.js")).enrollCommand(dataDir(), hubUrl, token, { allowHttp: o.allowHttp }),
  );

await runCli(program, process.argv, () => printVersions(program.opts().dataDir));

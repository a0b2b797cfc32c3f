/**
 * The CLI's exit codes and option parsers. Exit codes: 0 done (also --help and --version), 1 the command
 * failed, 2 it was not understood (unknown command or option, missing argument, bad value), 3 `status`:
 * not running. Usage errors never run a command, so a script can tell "wrong call" from "it failed".
 */
import { type Command, CommanderError, InvalidArgumentError } from "commander";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Makes commander throw instead of exiting, so that `runCli` picks the exit code, and words its errors like
 * ours. Call it before adding commands: subcommands inherit both settings.
 */
export function usageErrors(program: Command): Command {
  return program
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`nexus: ${s.replace(/^error: /, "")}`) })
    .showHelpAfterError("(add --help for usage)");
}

/** Parses `argv` and runs the command; `onVersion` answers `--version`. Sets the exit code (see above). */
export async function runCli(program: Command, argv: string[], onVersion: () => Promise<void>) {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError && err.code === VERSION_REQUESTED) {
      await onVersion();
      process.exit(0);
    }
    // commander has printed the message (or the help) already.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    console.error(`nexus: ${(err as Error).message}`);
    process.exit(EXIT_FAILURE);
  }
}

const VERSION_REQUESTED = "nexus.version";

/**
 * Adds `-V, --version`. The versions need an async look at nats-server, so the flag stops parsing (as
 * commander's own `.version()` does) and `runCli` prints them.
 */
export function versionFlag(program: Command): Command {
  return program
    .option("-V, --version", "print versions, as `nexus version` does")
    .on("option:version", () => {
      throw new CommanderError(0, VERSION_REQUESTED, "");
    });
}

/** A TCP port, 0..65535 (0: pick a free one). */
export function port(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError("a port is 0..65535");
  return n;
}

/** A count (of lines, …): a whole number, 0 or more. */
export function count(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError("expected a whole number, 0 or more");
  return Number(v);
}

/** A duration in seconds, over 0 (fractions allowed). */
export function seconds(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError("expected a number of seconds over 0");
  }
  return n;
}

/** One of `values`. */
export function oneOf<T extends string>(...values: T[]): (v: string) => T {
  return (v) => {
    if (!(values as string[]).includes(v)) throw new InvalidArgumentError(`expected ${values.join(" or ")}`);
    return v as T;
  };
}

/**
 * `nexus admin …`: account recovery and scripted provisioning on the box itself. Works on the identity
 * database directly (whoever can read the data dir is already root of the box), with or without a running
 * appliance; every action is written to the audit log with actor `cli`.
 */
import { pino } from "pino";
import { audit } from "../../services/identity/audit.js";
import identity from "../../services/identity/index.js";
import { temporaryPassword } from "../../services/identity/passwords.js";
import { createUser, setPassword, unlockUser, userRowByName } from "../../services/identity/users.js";
import { openServiceOffline } from "../kit/index.js";
import { syncPlugin } from "../sync/plugin.js";

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new Error("--password-stdin expects the password on standard input");
  let data = "";
  for await (const chunk of process.stdin) data += chunk;
  return data.replace(/\r?\n$/, "");
}

function open(dataDir: string, site: string) {
  return openServiceOffline(identity, {
    dataDir,
    site,
    log: pino({ level: "silent" }),
    plugins: [syncPlugin],
  });
}

export async function adminCreate(
  dataDir: string,
  site: string,
  o: { username: string; passwordStdin?: boolean; role: string },
) {
  const password = o.passwordStdin ? await readStdin() : temporaryPassword(o.username);
  const ctx = open(dataDir, site);
  try {
    const user = await createUser(ctx, {
      username: o.username,
      password,
      roles: [o.role],
      mustChangePassword: !o.passwordStdin,
    });
    audit(ctx, {
      actor: "cli",
      action: "user.created",
      target: user.id,
      details: { username: user.username, roles: user.roles },
    });
    console.log(`Created ${o.role} ${user.username} (${user.id}).`);
    if (!o.passwordStdin) console.log(`Temporary password (change it at first login): ${password}`);
  } finally {
    ctx.db.close();
  }
}

export async function adminResetPassword(
  dataDir: string,
  site: string,
  o: { username: string; passwordStdin?: boolean },
) {
  const password = o.passwordStdin ? await readStdin() : temporaryPassword(o.username);
  const ctx = open(dataDir, site);
  try {
    const u = userRowByName(ctx, o.username);
    if (!u) throw new Error(`no user ${o.username}`);
    await setPassword(ctx, u.id, password, !o.passwordStdin);
    unlockUser(ctx, u.id);
    audit(ctx, { actor: "cli", action: "password.reset", target: u.id });
    console.log(`Password of ${u.username} reset; their sessions ended and any lock lifted.`);
    if (!o.passwordStdin) console.log(`Temporary password (change it at first login): ${password}`);
  } finally {
    ctx.db.close();
  }
}

export function adminUnlock(dataDir: string, site: string, o: { username: string }) {
  const ctx = open(dataDir, site);
  try {
    const u = userRowByName(ctx, o.username);
    if (!u) throw new Error(`no user ${o.username}`);
    unlockUser(ctx, u.id);
    audit(ctx, { actor: "cli", action: "account.unlocked", target: u.id });
    console.log(`Unlocked ${u.username}.`);
  } finally {
    ctx.db.close();
  }
}

// Stops the platform started by global-setup.ts (its whole process group) and removes its data.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { STATE } from "./global-setup";

export default async function globalTeardown(): Promise<void> {
  let state: { pid: number; dataDir: string };
  try {
    state = JSON.parse(readFileSync(STATE, "utf8"));
  } catch {
    return;
  }
  // The launcher stops its services and Postgres in order on SIGTERM.
  try {
    process.kill(state.pid, "SIGTERM");
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + 20_000;
  const alive = () => {
    try {
      process.kill(-state.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  if (alive()) process.kill(-state.pid, "SIGKILL");
  // The platform's logs stay in test-results/platform/ for a look after a failure.
  const keep = resolve(import.meta.dirname, "../test-results/platform");
  mkdirSync(keep, { recursive: true });
  for (const name of ["run-local.log", "logs", "pg.log"]) {
    const from = join(state.dataDir, name);
    if (existsSync(from)) cpSync(from, join(keep, name), { recursive: true });
  }
  if (!process.env.KEEP_DATA) rmSync(state.dataDir, { recursive: true, force: true });
  rmSync(STATE, { force: true });
}

// Stops the platform started by global-setup.ts (its whole process group) and removes its data.
import { readFileSync, rmSync } from "node:fs";
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
  if (!process.env.KEEP_DATA) rmSync(state.dataDir, { recursive: true, force: true });
  rmSync(STATE, { force: true });
}

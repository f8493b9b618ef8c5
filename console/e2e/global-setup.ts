// Starts the platform for the browser tests the way `make run` does: scripts/run-local.sh over
// the debug binaries (BIN_DIR, default $CARGO_TARGET_DIR/debug), the built console (dist/), a
// temporary DATA_DIR and a free router port. Waits until the router answers.
import { spawn } from "node:child_process";
import { mkdtempSync, chmodSync, openSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
export const STATE = join(tmpdir(), "backendify-console-e2e.json");

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => ok(typeof a === "object" && a ? a.port : 0));
    });
  });
}

export default async function globalSetup(): Promise<void> {
  if (process.env.CONSOLE_BASE_URL) return; // an already running platform
  const dist = join(ROOT, "console/dist");
  if (!existsSync(join(dist, "index.html"))) throw new Error("console/dist is missing: run npm run build first");
  const target = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
  const binDir = resolve(ROOT, process.env.BIN_DIR ?? join(target, "debug"));
  const dataDir = mkdtempSync(join(tmpdir(), "backendify-console-"));
  chmodSync(dataDir, 0o755); // the managed Postgres runs as its own user when we are root
  const port = await freePort();
  const log = openSync(join(dataDir, "run-local.log"), "a");
  const child = spawn(join(ROOT, "scripts/run-local.sh"), [], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", log, log],
    env: {
      ...process.env,
      SKIP_BUILD: "1",
      BIN_DIR: binDir,
      DATA_DIR: dataDir,
      ROUTER_ADDR: `127.0.0.1:${port}`,
      PG_PORT: String(await freePort()),
      CONSOLE_DIR: dist,
      LOG: "warn",
    },
  });
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(STATE, JSON.stringify({ pid: child.pid, dataDir }));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`run-local.sh exited (${child.exitCode}); see ${dataDir}/run-local.log`);
    try {
      const r = await fetch(`${base}/console/`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`the platform did not start; see ${dataDir}/run-local.log`);
    await new Promise((r) => setTimeout(r, 500));
  }
  process.env.CONSOLE_BASE_URL = base;
}

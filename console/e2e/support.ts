// Shared steps of the browser journeys: the admin account, API shortcuts for setup, the
// accessibility scan and the screenshots of docs/console/.
import { expect, type APIRequestContext, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { join, resolve } from "node:path";

export const ADMIN = { email: "a@example.com", password: "correct-horse-1" };

/** Logs in through the API and returns the token pair. */
export async function apiTokens(request: APIRequestContext): Promise<{ access_token: string; refresh_token: string }> {
  let r = await request.post("/api/auth/login", { data: ADMIN });
  if (r.status() === 401) {
    await request.post("/api/auth/register", { data: ADMIN });
    r = await request.post("/api/auth/login", { data: ADMIN });
  }
  expect(r.ok()).toBeTruthy();
  return r.json();
}

/** Stores a fresh token pair in the browser, as a login would. */
export async function login(page: Page): Promise<void> {
  const t = await apiTokens(page.request);
  await page.goto("/console/login");
  await page.evaluate((pair) => localStorage.setItem("backendify.tokens", JSON.stringify(pair)), t);
}

/** Calls the admin API with a fresh token. */
export async function adminApi(request: APIRequestContext, method: string, path: string, data?: unknown) {
  const t = await apiTokens(request);
  const r = await request.fetch(path, { method, data, headers: { Authorization: `Bearer ${t.access_token}` } });
  if (!r.ok()) throw new Error(`${method} ${path}: ${r.status()} ${await r.text()}`);
  return r.status() === 204 ? null : r.json();
}

/** The id of a project by name, creating it when absent. */
export async function projectId(request: APIRequestContext, name: string): Promise<string> {
  const list: { id: string; name: string }[] = await adminApi(request, "GET", "/api/projects");
  const found = list.find((p) => p.name === name);
  if (found) return found.id;
  return (await adminApi(request, "POST", "/api/projects", { name })).id;
}

/** Fails on serious or critical accessibility findings. */
export async function expectAccessible(page: Page): Promise<void> {
  const res = await new AxeBuilder({ page }).analyze();
  const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map(
      (v) =>
        `${v.id}: ${v.help} (${v.nodes
          .slice(0, 3)
          .map((n) => `${n.target.join(" ")}: ${n.html.slice(0, 200)}`)
          .join(", ")})`,
    ),
  ).toEqual([]);
}

const SHOTS = resolve(import.meta.dirname, "../../docs/console");

/** A screenshot for docs/console/ (written when CONSOLE_SCREENSHOTS=1). */
export async function shot(page: Page, name: string): Promise<void> {
  if (process.env.CONSOLE_SCREENSHOTS !== "1") return;
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

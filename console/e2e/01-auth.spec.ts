// Journeys 1 and 2 of spec/console.md §5: register, login state, logout, wrong password, and the
// shared token refresh.
import { expect, test } from "@playwright/test";
import { ADMIN, adminApi, expectAccessible, projectId, shot } from "./support";

test("journey 1: register, reload, logout, wrong and right password", async ({ page }) => {
  await page.goto("/console/");
  await expect(page).toHaveURL(/\/console\/login\?redirect=/);
  await shot(page, "login");
  await page.getByRole("link", { name: "Register" }).click();
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByLabel("Confirm password").fill(ADMIN.password);
  await expectAccessible(page);
  await shot(page, "register");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByText("No projects yet")).toBeVisible();
  await expectAccessible(page);
  await page.reload();
  await expect(page.getByText("No projects yet")).toBeVisible();
  await page.getByRole("button", { name: ADMIN.email }).click();
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/console\/login$/);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Invalid email or password");
  await expectAccessible(page);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/console\/$/);
  await expect(page.getByText("No projects yet")).toBeVisible();
});

test("keyboard only: login", async ({ page }) => {
  await page.goto("/console/login");
  await page.keyboard.press("Tab"); // skip link is absent on this page: the first control is Email
  await expect(page.getByLabel("Email")).toBeFocused();
  await page.keyboard.type(ADMIN.email);
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Password")).toBeFocused();
  await page.keyboard.type(ADMIN.password);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/console\/$/);
});

test("journey 2: one shared refresh, then login with redirect", async ({ page, request }) => {
  const pid = await projectId(request, "Refresh check");
  const pair = await adminApi(request, "POST", "/api/auth/login", ADMIN);
  await page.goto("/console/login");
  await page.evaluate((t) => localStorage.setItem("backendify.tokens", JSON.stringify({ access_token: "garbage", refresh_token: t })), pair.refresh_token);
  let refreshes = 0;
  page.on("request", (r) => {
    if (r.url().endsWith("/api/auth/refresh")) refreshes++;
  });
  await page.goto(`/console/projects/${pid}/schema`);
  await expect(page.getByRole("heading", { name: "Schema" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Refresh check" })).toBeVisible();
  expect(refreshes).toBe(1);

  await page.evaluate(() => localStorage.setItem("backendify.tokens", JSON.stringify({ access_token: "garbage", refresh_token: "invalid" })));
  await page.goto(`/console/projects/${pid}/schema?c=_users`);
  await expect(page).toHaveURL(/\/console\/login\?redirect=/);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(new RegExp(`/console/projects/${pid}/schema\\?c=_users$`));
});

test("performance: the first load transfers under 300 KB of compressed JavaScript", async ({ page }) => {
  const sizes: Promise<number>[] = [];
  page.on("requestfinished", (r) => {
    if (r.resourceType() === "script") sizes.push(r.sizes().then((s) => s.responseBodySize));
  });
  const res = await page.goto("/console/");
  expect(res?.headers()["cache-control"]).toBe("no-cache");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  await page.waitForLoadState("networkidle");
  const total = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  console.log(`first-load JavaScript: ${(total / 1024).toFixed(1)} KB compressed in ${sizes.length} file(s)`);
  expect(sizes.length).toBeGreaterThan(0);
  expect(total).toBeLessThan(300 * 1024);
  const script = await page.locator("script[type=module]").getAttribute("src");
  const asset = await page.request.get(script!, { headers: { "Accept-Encoding": "br, gzip" } });
  expect(asset.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
});

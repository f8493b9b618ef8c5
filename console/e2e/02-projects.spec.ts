// Journeys 3 and 4 of spec/console.md §5: projects, the switcher, API keys.
import { expect, test } from "@playwright/test";
import { expectAccessible, login, projectId, shot } from "./support";

test("journey 3: create Demo, overview counts _users, the switcher keeps the screen", async ({ page, request }) => {
  await login(page);
  await page.goto("/console/");
  await page.getByLabel("Project name").fill("Demo");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "Demo", level: 1 })).toBeVisible();
  await expect(page.getByTestId("stat-collections")).toContainText("1");
  await expect(page.getByTestId("stat-users")).toContainText("0");
  await expectAccessible(page);
  await shot(page, "overview");
  const other = await projectId(request, "Second");
  await page.getByRole("complementary").getByRole("link", { name: "Schema", exact: true }).click();
  await expect(page).toHaveURL(/\/schema$/);
  await page.getByRole("button", { name: /Switch project/ }).click();
  await page.getByLabel("Filter projects").fill("Sec");
  await page.getByRole("button", { name: "Second" }).click();
  await expect(page).toHaveURL(new RegExp(`/console/projects/${other}/schema$`));
  await expect(page.getByRole("heading", { name: "Schema", level: 1 })).toBeVisible();
  await page.goto("/console/");
  await expect(page.getByRole("listitem").filter({ hasText: "Second" }).first()).toBeVisible();
  await shot(page, "control-center");
});

test("journey 4: API key shown once, prefix matches, revoke after confirming", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}`);
  await page.getByRole("button", { name: "Create API key" }).click();
  await page.getByLabel("Key name").fill("server");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  const key = (await page.getByLabel("API key", { exact: true }).textContent())!.trim();
  expect(key).toHaveLength(64);
  await shot(page, "api-key-created");
  await page.getByLabel("I have stored it").check();
  await page.getByRole("button", { name: "Close", exact: true }).last().click();
  const row = page.getByRole("row").filter({ hasText: "server" });
  await expect(row.getByRole("cell").nth(1)).toHaveText(`${key.slice(0, 8)}…`);
  await row.getByRole("button", { name: "Revoke server" }).click();
  await expect(page.getByRole("button", { name: "Cancel" })).toBeFocused();
  await page.getByRole("button", { name: "Revoke", exact: true }).click();
  await page.getByLabel("Show revoked").check();
  await expect(page.getByRole("row").filter({ hasText: "server" })).toContainText("Revoked");
  await expectAccessible(page);
});

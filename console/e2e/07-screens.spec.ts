// Every screen of spec/console.md §3 opens on the data the journeys left, passes the
// accessibility scan, and is photographed for docs/console/ (CONSOLE_SCREENSHOTS=1).
import { expect, test } from "@playwright/test";
import { adminApi, expectAccessible, login, projectId, shot } from "./support";

const SCREENS: [string, string, string][] = [
  ["", "Demo", "overview"],
  ["schema?c=posts", "Schema", "schema"],
  ["data?c=posts", "Data explorer", "data-explorer"],
  ["users", "Users", "users"],
  ["auth", "Authentication", "authentication"],
  ["auth?tab=developer", "Authentication", "authentication-developer"],
  ["rbac", "Roles", "roles"],
  ["policies?c=posts", "Policies", "policies"],
  ["validations?c=posts&f=title", "Validations", "validations"],
  ["relations?c=posts", "Relations", "relations"],
  ["views?v=popular", "Views", "views"],
  ["schema-evolution?c=posts", "Schema evolution", "schema-evolution"],
  ["files", "Files", "files"],
  ["logs", "Logs", "logs-audit"],
  ["logs?tab=schema", "Logs", "logs-schema-ops"],
  ["webhooks", "Webhooks", "webhooks"],
  ["workflows", "Workflows", "workflows"],
];

test("every project screen renders and passes the accessibility scan", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  for (const [path, heading, name] of SCREENS) {
    await page.goto(`/console/projects/${pid}${path ? "/" + path.replace(/^(?=\?)/, "") : ""}`.replace("/?", "?"));
    await expect(page.getByRole("heading", { name: heading, level: 1 })).toBeVisible();
    await expect(page.getByLabel("Loading")).toHaveCount(0);
    await expectAccessible(page);
    await shot(page, name);
  }
  await page.goto("/console/nowhere/at/all");
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await page.goto(`/console/projects/00000000-0000-4000-8000-000000000000/schema`);
  await expect(page.getByText("Project not found or you are not a member")).toBeVisible();
});

test("dark theme and the narrow layout", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/data?c=posts`);
  await page.getByRole("button", { name: "a@example.com" }).click();
  await page.getByLabel("Theme").selectOption("dark");
  await page.keyboard.press("Escape");
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expectAccessible(page);
  await shot(page, "data-explorer-dark");
  await page.setViewportSize({ width: 800, height: 900 });
  await page.getByRole("button", { name: "Open navigation" }).click();
  await expect(page.getByRole("complementary").getByRole("link", { name: "Logs" })).toBeVisible();
  await shot(page, "narrow-navigation");
});

test("saved filters and the CSV export of the data explorer", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/data?c=posts&title__contains=Hel`);
  await page.getByRole("button", { name: "Save filter" }).click();
  await page.getByLabel("Name of this filter").fill("hel");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.goto(`/console/projects/${pid}/data?c=posts`);
  await page.getByLabel("Apply a saved filter").selectOption({ label: "hel" });
  await expect(page).toHaveURL(/title__contains=Hel/);
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export CSV" }).click();
  const file = await download;
  const text = await (await file.createReadStream()).toArray().then((c) => Buffer.concat(c).toString());
  expect(text.split("\r\n")[0]).toContain("title");
  expect(text).toContain("Hello");
  expect(text).not.toContain("Breaking");
  await page.getByRole("button", { name: "API" }).click();
  await expect(page.getByLabel("list snippet", { exact: true })).toContainText("title__contains=Hel");
});

test("CSV import with a dry run, then bulk edit of one field", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/data?c=categories`);
  await page.getByRole("button", { name: "Import" }).click();
  await page.getByLabel("CSV or JSON file").setInputFiles({ name: "cats.csv", mimeType: "text/csv", buffer: Buffer.from('name\r\nSports\r\n"Tech, Science"\r\n') });
  await expect(page.getByLabel('Column "name"')).toHaveValue("name");
  await page.getByRole("button", { name: "Dry run" }).click();
  await expect(page.getByText("No problems found.")).toBeVisible();
  await expectAccessible(page);
  await shot(page, "data-import");
  await page.getByRole("button", { name: "Import 2 rows" }).click();
  await expect(page.getByText("Imported 2 of 2 records")).toBeVisible();
  await page.getByRole("button", { name: "Close", exact: true }).click();
  const table = page.getByRole("table", { name: "Records of categories" });
  await expect(table).toContainText("Tech, Science");
  await expect(page.getByTestId("page-range")).toHaveText("1–3 of 3");

  await table.getByRole("row").filter({ hasText: "Sports" }).getByRole("checkbox").check();
  await table.getByRole("row").filter({ hasText: "Tech" }).getByRole("checkbox").check();
  await page.getByRole("button", { name: "Edit selected (2)" }).click();
  await page.getByLabel(/^New value for every selected record/).fill("Misc");
  await page.getByRole("button", { name: "Apply to 2 records" }).click();
  await expect(table.getByRole("cell", { name: "Misc", exact: true })).toHaveCount(2);
});

test("live audit tail marks new events", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/logs`);
  const table = page.getByRole("table", { name: "Audit events" });
  await expect(table).toBeVisible();
  await page.getByRole("switch", { name: "Live tail" }).click();
  await adminApi(request, "POST", `/api/projects/${pid}/data/posts`, { title: "Live one" });
  await expect(table.getByRole("row").filter({ hasText: "new" }).first()).toBeVisible({ timeout: 12_000 });
});

test("inline cell editing", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/data?c=posts`);
  await page.getByRole("button", { name: "Edit cells" }).click();
  await page.getByRole("button", { name: "Edit title of record 1" }).click();
  const input = page.getByLabel("New title of record 1");
  await input.fill("Hello there");
  await input.press("Enter");
  await expect(page.getByRole("button", { name: "Edit title of record 1" })).toHaveText("Hello there");
  await expect(page.getByRole("dialog")).toHaveCount(0);
});

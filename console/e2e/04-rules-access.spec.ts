// Journeys 7-10 of spec/console.md §5: validation rules, relations, policies, access.
import { expect, test } from "@playwright/test";
import { adminApi, expectAccessible, login, projectId, shot } from "./support";

test("journey 7: a min_length rule refuses a short title in the data explorer", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/validations?c=posts&f=title`);
  await page.getByRole("button", { name: "Add rule" }).click();
  await page.getByLabel("Rule type").selectOption("min_length");
  await page.getByLabel("min").fill("3");
  await page.getByRole("dialog").getByRole("button", { name: "Add rule" }).click();
  await expect(page.getByRole("table", { name: "Rules of title" })).toContainText("min 3");
  await page.getByLabel("Value to try").fill("Hi");
  await page.getByRole("button", { name: "Check" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Invalid" })).toContainText("Must be at least 3 characters");
  await expectAccessible(page);
  await shot(page, "validations");

  await page.goto(`/console/projects/${pid}/data?c=posts`);
  await expect(page.getByTestId("page-range")).toHaveText("1–2 of 2");
  await page.getByRole("button", { name: "New record" }).first().click();
  await page.getByLabel(/^Title/).fill("Hi");
  await page.getByRole("button", { name: "Create record" }).click();
  const title = page.getByLabel(/^Title/);
  await expect(title).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByRole("dialog").getByText("Must be at least 3 characters")).toBeVisible();
  await page.getByRole("button", { name: "Cancel" }).click();
  page.once("dialog", (d) => d.accept());
  await expect(page.getByTestId("page-range")).toHaveText("1–2 of 2");
});

test("journey 8: a relation to categories offers News and shows it in the row", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/schema`);
  await page.getByRole("button", { name: "New collection" }).click();
  await page.getByLabel("Name", { exact: true }).fill("categories");
  await page.getByRole("dialog").getByRole("button", { name: "Create collection" }).click();
  await expect(page).toHaveURL(/\?c=categories$/);
  await page.getByRole("button", { name: "Add field" }).click();
  await page.getByLabel("Name", { exact: true }).fill("name");
  await page.getByRole("dialog").getByRole("button", { name: "Add field" }).click();
  await expect(page.getByRole("dialog")).toBeHidden();
  await page.goto(`/console/projects/${pid}/data?c=categories`);
  await page.getByRole("button", { name: "New record" }).first().click();
  await page.getByLabel(/^Name/).fill("News");
  await page.getByRole("button", { name: "Create record" }).click();
  await expect(page.getByRole("table", { name: "Records of categories" })).toContainText("News");

  await page.goto(`/console/projects/${pid}/relations?c=posts`);
  await page.getByRole("button", { name: "Add relation" }).click();
  await page.getByLabel("Name", { exact: true }).fill("category");
  await page.getByLabel("Target collection").selectOption({ label: "Categories (categories)" });
  await expect(page.getByLabel("Display field")).toHaveValue("name");
  await expectAccessible(page);
  await page.getByRole("dialog").getByRole("button", { name: "Add relation" }).click();
  await expect(page.getByRole("table", { name: "Relations of posts" })).toContainText("category_id");
  await shot(page, "relations");

  await page.goto(`/console/projects/${pid}/data?c=posts`);
  await page.getByRole("button", { name: "New record" }).first().click();
  await page.getByLabel(/^Title/).fill("Breaking");
  await page.getByLabel(/^Category/).selectOption({ label: "News (#1)" });
  await page.getByRole("button", { name: "Create record" }).click();
  await expect(page.getByRole("row").filter({ hasText: "Breaking" })).toContainText("#1 News");
});

test("journey 9: a public list policy opens the list to anonymous callers until deleted", async ({ page, request, playwright }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/policies?c=posts`);
  await page.getByRole("button", { name: "New policy" }).click();
  await expect(page.getByRole("note")).toContainText("API keys lose every action no policy allows");
  await page.getByLabel("Name", { exact: true }).fill("public list");
  await page.getByLabel("Action").selectOption("list");
  await page.getByLabel("anonymous").check();
  await expectAccessible(page);
  await shot(page, "policy-dialog");
  await page.getByRole("button", { name: "Create policy" }).click();
  await expect(page.getByRole("table", { name: "Policies of posts" })).toContainText("public list");
  await shot(page, "policies");
  const anon = await playwright.request.newContext({ baseURL: page.url() });
  const url = new URL(`/api/projects/${pid}/data/posts`, page.url()).toString();
  expect((await anon.get(url)).status()).toBe(200);
  await page.getByRole("button", { name: "Delete public list" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await expect(page.getByText("No policies: admins and API keys only")).toBeVisible();
  expect((await anon.get(url)).status()).toBe(401);
  await anon.dispose();
});

test("journey 10: signup switch, app user lifecycle, roles", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/auth`);
  const signup = page.getByRole("switch", { name: "Allow public signup" });
  await expect(signup).toHaveAttribute("aria-checked", "true");
  await signup.click();
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.getByText("Settings saved")).toBeVisible();
  await page.reload();
  await expect(page.getByRole("switch", { name: "Allow public signup" })).toHaveAttribute("aria-checked", "false");
  await expectAccessible(page);
  await shot(page, "authentication");

  await page.goto(`/console/projects/${pid}/users`);
  await page.getByRole("button", { name: "Create user" }).click();
  await page.getByRole("dialog").getByLabel("Email", { exact: true }).fill("u@example.com");
  await page.getByRole("dialog").getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("table", { name: "App users" })).toContainText("u@example.com");
  await page.getByRole("button", { name: "Disable" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Disable" }).click();
  await expect(page.getByRole("table", { name: "App users" }).getByRole("row").filter({ hasText: "u@example.com" })).toContainText("Disabled");
  await expectAccessible(page);
  await shot(page, "users");

  await page.goto(`/console/projects/${pid}/rbac`);
  await page.getByRole("button", { name: "Initialize defaults" }).click();
  await expect(page.getByText("Created 3 roles")).toBeVisible();
  const roles = page.getByRole("table", { name: "Roles" });
  await expect(roles.getByRole("row").filter({ hasText: "member" })).toContainText("Default");
  await expect(roles).toContainText("admin");
  await expect(roles).toContainText("viewer");
  await shot(page, "roles");
  await page.getByRole("tab", { name: "Assignments" }).click();
  await page.getByRole("button", { name: "u@example.com" }).click();
  await page.getByRole("button", { name: "Assign viewer" }).click();
  await expect(page.getByRole("button", { name: "Remove viewer" })).toBeVisible();
  const held = await adminApi(request, "GET", `/api/projects/${pid}/rbac/users/${new URL(page.url()).searchParams.get("user")}/roles`);
  expect(held.roles.map((r: { name: string }) => r.name)).toEqual(["viewer"]);

  await page.goto(`/console/projects/${pid}/users`);
  await page.getByRole("button", { name: "u@example.com" }).click();
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  await page.getByLabel(/Type .* to confirm/).fill("u@example.com");
  await page.getByRole("button", { name: "Delete user" }).click();
  await expect(page.getByText("No app users yet")).toBeVisible();
});

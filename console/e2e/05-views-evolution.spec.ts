// Journeys 11 and 12 of spec/console.md §5: views and schema evolution.
import { expect, test } from "@playwright/test";
import { expectAccessible, login, projectId, shot } from "./support";

test("journey 11: a parameterized view runs, versions and documents itself", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/views`);
  await page.getByRole("button", { name: "Create view" }).click();
  await page.getByLabel("Name", { exact: true }).fill("popular");
  await page.getByLabel("Base collection").selectOption({ label: "posts" });
  await page.getByRole("button", { name: "Add filter" }).click();
  await page.getByLabel("Filter 1 column").selectOption("views");
  await page.getByLabel("Filter 1 operator").selectOption(">");
  await page.getByLabel("Filter 1 value").fill("2");
  await page.getByRole("button", { name: "Add sort params" }).click();
  await expect(page.getByLabel("Parameter 1 name")).toHaveValue("sort_by");
  await expectAccessible(page);
  await shot(page, "view-dialog");
  await page.getByRole("button", { name: "Create view" }).last().click();
  await expect(page.getByRole("table", { name: "Views" })).toContainText("popular");
  await page.getByLabel("sort_order").selectOption("desc");
  await page.getByRole("button", { name: "Run" }).click();
  const result = page.getByRole("table", { name: "Result of popular" });
  await expect(result).toContainText("Hello");
  await expect(result).not.toContainText("Helper");
  await expect(page.getByTestId("page-range")).toHaveText("1–1 of 1");
  await shot(page, "views");

  await page.getByRole("button", { name: "Edit", exact: true }).click();
  await page.getByLabel("Description", { exact: true }).fill("Most viewed posts");
  await page.getByRole("button", { name: "Save view" }).click();
  await expect(page.getByRole("region", { name: "View popular" })).toContainText("v2");
  await page.getByRole("tab", { name: "History" }).click();
  await expect(page.getByRole("table", { name: "Versions" }).getByRole("row")).toHaveCount(3);
  await page.getByRole("tab", { name: "API" }).click();
  await expect(page.getByLabel("curl example", { exact: true })).toContainText("/views/popular/execute");
  await expectAccessible(page);
});

test("journey 12: rename, soft delete, restore and hard delete a field", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/schema-evolution?c=posts`);
  await page.getByRole("button", { name: "Rename views" }).click();
  await page.getByLabel("New name").fill("view_count");
  await page.getByRole("button", { name: "Preview" }).click();
  const preview = page.getByRole("region", { name: "Preview" });
  await expect(preview).toContainText("RENAME COLUMN");
  await expect(preview).toContainText("aliased");
  await shot(page, "schema-evolution-preview");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByRole("table", { name: "Aliases" })).toContainText("views");
  await expect(page.getByRole("table", { name: "Live fields" })).toContainText("view_count");

  await page.getByRole("button", { name: "Soft delete view_count" }).click();
  await page.getByRole("button", { name: "Preview" }).click();
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByRole("table", { name: "Deleted fields" })).toContainText("view_count");
  await expect(page.getByRole("table", { name: "Live fields" })).not.toContainText("view_count");
  await page.goto(`/console/projects/${pid}/schema?c=posts`);
  await expect(page.getByRole("table", { name: "Fields of posts" })).not.toContainText("view_count");
  await page.goto(`/console/projects/${pid}/schema-evolution?c=posts`);
  await page.getByRole("button", { name: "Restore view_count" }).click();
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByRole("table", { name: "Live fields" })).toContainText("view_count");

  await page.getByRole("button", { name: "Soft delete view_count" }).click();
  await page.getByRole("button", { name: "Preview" }).click();
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByRole("table", { name: "Deleted fields" }).getByRole("button", { name: "Hard delete view_count" }).click();
  await page.getByRole("button", { name: "Preview" }).click();
  await expect(page.getByRole("region", { name: "Preview" })).toContainText("DROP COLUMN");
  await expect(page.getByRole("button", { name: "Apply" })).toBeDisabled();
  await page.getByLabel("Type view_count to confirm").fill("view_count");
  await expectAccessible(page);
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByText("No soft-deleted fields.")).toBeVisible();
  await expect(page.getByRole("table", { name: "Live fields" })).not.toContainText("view_count");
  await shot(page, "schema-evolution");
  await page.goto(`/console/projects/${pid}/logs?tab=schema&op=drop_column`);
  await expect(page.getByRole("table", { name: "Schema operations" })).toContainText("drop_column");
});

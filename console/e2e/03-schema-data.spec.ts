// Journeys 5 and 6 of spec/console.md §5 (schema builder, data explorer), the keyboard-only
// check of create collection, add field and add record, and the 1,000-row render time.
import { expect, test, type Page } from "@playwright/test";
import { adminApi, expectAccessible, login, projectId, shot } from "./support";

async function addField(page: Page, name: string, type: string) {
  await page.getByRole("button", { name: "Add field" }).click();
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Type").selectOption(type);
  await page.getByRole("dialog").getByRole("button", { name: "Add field" }).click();
  await expect(page.getByRole("dialog")).toBeHidden();
  await expect(page.getByRole("row").filter({ has: page.getByRole("cell", { name: name, exact: true }) })).toBeVisible();
}

test("journey 5: schema builder checks, creates posts and its fields; schema ops list them", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/schema`);
  await page.getByRole("button", { name: "New collection" }).click();
  const name = page.getByLabel("Name", { exact: true });
  await name.fill("Posts");
  await expect(page.getByText("Must start with a lower-case letter")).toBeVisible();
  await name.fill("select");
  await page.getByRole("dialog").getByRole("button", { name: "Create collection" }).click();
  await expect(page.getByRole("dialog").getByText(/Invalid collection name/)).toBeVisible();
  await name.fill("posts");
  await expect(page.getByLabel("Display name")).toHaveValue("Posts");
  await expectAccessible(page);
  await page.getByRole("dialog").getByRole("button", { name: "Create collection" }).click();
  await expect(page).toHaveURL(/\?c=posts$/);
  await addField(page, "title", "string");
  await addField(page, "views", "int");
  await addField(page, "published", "bool");
  await page.getByRole("button", { name: "Add field" }).click();
  await page.getByLabel("Name", { exact: true }).fill("title");
  await expect(page.getByRole("dialog").getByText(/already exists/)).toBeVisible();
  await page.getByLabel("Name", { exact: true }).fill("summary");
  await page.getByLabel("Required").check();
  await page.getByRole("dialog").getByRole("button", { name: "Add field" }).click();
  await expect(page.getByRole("dialog").getByText(/needs a default/)).toBeVisible();
  await shot(page, "schema-add-field");
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByRole("row").filter({ hasText: "summary" })).toHaveCount(0);
  await expectAccessible(page);
  await shot(page, "schema");

  await page.getByRole("complementary").getByRole("link", { name: "Logs" }).click();
  await page.getByRole("tab", { name: "Schema ops" }).click();
  await page.getByLabel("Collection").selectOption("posts");
  await expect(page.getByRole("row").filter({ hasText: "create_table" })).toHaveCount(1);
  await expect(page.getByRole("row").filter({ hasText: "add_column" })).toHaveCount(3);
  await expectAccessible(page);
  await shot(page, "logs-schema-ops");
});

async function newPost(page: Page, title: string, views: number) {
  await page.getByRole("button", { name: "New record" }).first().click();
  await page.getByLabel(/^Title/).fill(title);
  await page.getByLabel(/^Views/).fill(String(views));
  await page.getByRole("button", { name: "Create record" }).click();
  await expect(page.getByRole("dialog")).toBeHidden();
}

test("journey 6: data explorer create, filter, sort, page, edit, delete", async ({ page, request }) => {
  const pid = await projectId(request, "Demo");
  await login(page);
  await page.goto(`/console/projects/${pid}/data?c=posts`);
  await expect(page.getByText("No records yet")).toBeVisible();
  await newPost(page, "Hello", 5);
  await newPost(page, "Help", 1);
  await newPost(page, "Bye", 9);
  await expect(page.getByTestId("page-range")).toHaveText("1–3 of 3");
  await expectAccessible(page);
  await shot(page, "data-explorer");

  await page.getByRole("button", { name: /^Filters/ }).click();
  await page.getByLabel("Column 1").selectOption("title");
  await page.getByLabel("Operator 1").selectOption("contains");
  await page.getByLabel("Value 1").fill("Hel");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await expect(page).toHaveURL(/title__contains=Hel/);
  await expect(page.getByTestId("page-range")).toHaveText("1–2 of 2");
  const table = page.getByRole("table", { name: "Records of posts" });
  await expect(table).not.toContainText("Bye");

  await page.getByRole("button", { name: "views" }).click();
  await page.getByRole("button", { name: "views" }).click();
  await expect(page).toHaveURL(/sort=-views/);
  await expect(table.getByRole("row").nth(1)).toContainText("Hello");
  await expect(table.getByRole("row").nth(2)).toContainText("Help");

  await page.getByLabel("Rows per page").selectOption("25");
  await page.goto(page.url().replace(/size=\d+/, "") + "&size=1");
  await expect(page.getByTestId("page-range")).toHaveText("1–1 of 2");
  await page.getByRole("button", { name: "Next page" }).click();
  await expect(page.getByTestId("page-range")).toHaveText("2–2 of 2");

  await table.getByRole("row").nth(1).getByRole("cell").nth(2).click();
  await expect(page).toHaveURL(/record=\d+/);
  const before = await page.getByTestId("updated-at").textContent();
  await page.getByLabel(/^Title/).fill("Helper");
  await shot(page, "record-editor");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.getByRole("dialog")).toBeHidden();
  await expect(table).toContainText("Helper");
  await table.getByRole("row").nth(1).getByRole("cell").nth(2).click();
  await expect(page.getByTestId("updated-at")).not.toHaveText(before!);
  await page.getByRole("button", { name: "Close", exact: true }).click();

  await page.goto(`/console/projects/${pid}/data?c=posts`);
  const bye = table.getByRole("row").filter({ hasText: "Bye" });
  await bye.getByRole("checkbox").check();
  await page.getByRole("button", { name: /Delete selected/ }).click();
  await expect(page.getByRole("button", { name: "Cancel" })).toBeFocused();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await expect(page.getByTestId("page-range")).toHaveText("1–2 of 2");
});

test("keyboard only: create collection, add field, add record", async ({ page, request }) => {
  const pid = await projectId(request, "Keyboard");
  await login(page);
  await page.goto(`/console/projects/${pid}/schema`);
  const tabTo = async (name: RegExp | string) => {
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press("Tab");
      const label = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.innerText?.trim() ?? "");
      if (typeof name === "string" ? label === name : name.test(label)) return;
    }
    throw new Error(`no focusable ${name}`);
  };
  await tabTo("New collection");
  await page.keyboard.press("Enter");
  await expect(page.getByLabel("Name", { exact: true })).toBeFocused();
  await page.keyboard.type("notes");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\?c=notes$/);
  await tabTo("Add field");
  await page.keyboard.press("Enter");
  await expect(page.getByLabel("Name", { exact: true })).toBeFocused();
  await page.keyboard.type("body");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("row").filter({ hasText: "body" })).toBeVisible();
  await page.goto(`/console/projects/${pid}/data?c=notes`);
  await tabTo("New record");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  for (let i = 0; i < 10 && !(await page.getByLabel(/^Body/).evaluate((e) => e === document.activeElement)); i++) await page.keyboard.press("Tab");
  await page.keyboard.type("typed with keys");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("table", { name: "Records of notes" })).toContainText("typed with keys");
});

test("performance: a 1,000-row page renders in under 200 ms", async ({ page, request }) => {
  const pid = await projectId(request, "Perf");
  await adminApi(request, "POST", `/api/projects/${pid}/schema/collections`, { name: "items", display_name: "Items" });
  for (const [n, t] of [["title", "string"], ["n", "int"], ["ok", "bool"]]) {
    await adminApi(request, "POST", `/api/projects/${pid}/schema/collections/items/fields`, { name: n, display_name: n, field_type: t });
  }
  for (let b = 0; b < 10; b++) {
    const operations = Array.from({ length: 100 }, (_, i) => ({ op: "create", collection: "items", data: { title: `item ${b * 100 + i}`, n: b * 100 + i, ok: i % 2 === 0 } }));
    await adminApi(request, "POST", `/api/projects/${pid}/data/_batch`, { operations });
  }
  await login(page);
  // Five loads of the page; the median counts (the machine is shared with other work).
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    await page.goto(`/console/projects/${pid}/data?c=items&size=1000`);
    await expect(page.getByTestId("page-range")).toHaveText("1–1000 of 1000");
    runs.push(await page.evaluate(async () => {
      for (let j = 0; j < 50; j++) {
        const m = performance.getEntriesByName("records-rendered:1000");
        if (m.length) return m[m.length - 1].duration;
        await new Promise((r) => setTimeout(r, 50));
      }
      return -1;
    }));
  }
  const ms = [...runs].sort((a, b) => a - b)[2];
  console.log(`1,000-row render: median ${ms.toFixed(1)} ms (runs: ${runs.map((r) => r.toFixed(1)).join(", ")} ms)`);
  expect(ms).toBeGreaterThan(0);
  expect(ms).toBeLessThan(200);
});

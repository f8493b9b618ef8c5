// Unit tests of the console's pure logic: API error decoding (§2.3), URL filters (§3.6), sorting.
import { describe, expect, it } from "vitest";
import { decodeError, tokenExpiry, withQuery } from "./api/client";
import { filterQuery, opsFor, readFilters, writeFilters } from "./screens/data/filters";
import { nextSort, parseSort } from "./ui/Table";
import { slugProblem, reservedNote, titleFromSlug } from "./ui/form";
import { toCsv } from "./screens/data/exporting";
import { typeProblem } from "./screens/data/RecordDrawer";
import { convert, parseCsv } from "./screens/data/ImportDialog";
import { alertText, blankStep, buildStep, draftFromStep, formatDuration, placeErrors } from "./screens/workflows/steps";

describe("decodeError", () => {
  it("reads a detail string", () => {
    expect(decodeError(409, { detail: "User already exists" }).message).toBe("User already exists");
  });
  it("puts 422 items under the field named by loc[1]", () => {
    const e = decodeError(422, { detail: [{ loc: ["body", "email"], msg: "bad email" }, { loc: ["body"], msg: "oops" }] });
    expect(e.fields).toEqual({ email: ["bad email"] });
    expect(e.message).toContain("oops");
  });
  it("reads validation_errors", () => {
    const e = decodeError(400, { detail: { validation_errors: { title: ["Must be at least 3 characters"] } } });
    expect(e.fields.title).toEqual(["Must be at least 3 characters"]);
    expect(e.message).toBe("Fix 1 field");
  });
  it("adds Retry-After to a 429", () => {
    expect(decodeError(429, { detail: "Too many requests" }, "7").message).toBe("Too many requests (try again in 7 s)");
  });
  it("never shows raw bodies of server errors", () => {
    expect(decodeError(502, undefined).message).toBe("Server error (502)");
    expect(decodeError(0, null).message).toBe("Cannot reach the server");
  });
});

describe("tokenExpiry", () => {
  it("reads exp from a JWT and refuses garbage", () => {
    const body = btoa(JSON.stringify({ sub: "x", exp: 1700000000 })).replace(/=+$/, "");
    expect(tokenExpiry(`h.${body}.s`)).toBe(1700000000);
    expect(tokenExpiry("garbage")).toBeNull();
  });
});

describe("filters", () => {
  const cols = new Set(["title", "views", "id"]);
  it("reads known columns only, splitting on the last __", () => {
    const s = new URLSearchParams("c=posts&title__contains=Hel&views__gte=2&zzz=1&page=2&id=5");
    expect(readFilters(s, cols)).toEqual([
      { column: "title", op: "contains", value: "Hel" },
      { column: "views", op: "gte", value: "2" },
      { column: "id", op: "eq", value: "5" },
    ]);
  });
  it("writes filters, keeps state keys and resets the page", () => {
    const s = writeFilters(new URLSearchParams("c=posts&page=3&title=x"), [{ column: "views", op: "isnull", value: "" }]);
    expect(s.toString()).toBe("c=posts&views__isnull=true");
    expect(filterQuery([{ column: "t", op: "eq", value: "a" }])).toEqual({ t: "a" });
  });
  it("offers operators by type", () => {
    expect(opsFor("string")).toContain("ilike");
    expect(opsFor("string")).not.toContain("gt");
    expect(opsFor("int")).toContain("gte");
    expect(opsFor("bool")).toEqual(["eq", "neq", "isnull", "isnotnull"]);
  });
});

describe("sorting and misc", () => {
  it("cycles asc → desc → none and appends with shift", () => {
    expect(nextSort("", "views", false)).toBe("views");
    expect(nextSort("views", "views", false)).toBe("-views");
    expect(nextSort("-views", "views", false)).toBe("");
    expect(nextSort("-views", "title", true)).toBe("-views,title");
    expect(parseSort("-views,title")).toEqual([{ key: "views", desc: true }, { key: "title", desc: false }]);
  });
  it("checks slugs", () => {
    expect(slugProblem("Posts")).toMatch(/lower-case/);
    expect(slugProblem("posts")).toBeNull();
    expect(reservedNote("select")).toMatch(/reserved/);
    expect(titleFromSlug("blog_posts")).toBe("Blog Posts");
  });
  it("builds queries, CSV and type checks", () => {
    expect(withQuery("/x", { a: 1, b: "", c: undefined })).toBe("/x?a=1");
    expect(toCsv(["a", "b"], [{ a: "x,y", b: null }])).toBe('a,b\r\n"x,y",\r\n');
    expect(typeProblem("int", 1.5)).toBe("must be an integer");
    expect(typeProblem("bool", true)).toBeNull();
  });
});

describe("import", () => {
  it("parses CSV with quotes, escapes and CRLF", () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\r\n\r\n1,\n')).toEqual([["a", "b"], ["x, y", 'say "hi"'], ["1", ""]]);
  });
  it("converts cells to field types", () => {
    expect(convert("int", "42")).toBe(42);
    expect(convert("bool", "yes")).toBe(true);
    expect(convert("float", "1.5")).toBe(1.5);
    expect(convert("string", "")).toBeUndefined();
  });
});

describe("workflow steps", () => {
  it("builds flat steps and names what is wrong", () => {
    const t = { ...blankStep("transform"), name: "hello", output: '{"greeting": "Hi {{ trigger.input.who }}"}' };
    expect(buildStep(t).step).toEqual({ action: "transform", name: "hello", output: { greeting: "Hi {{ trigger.input.who }}" } });
    const h = { ...blankStep(), url: "ftp://x", headers: "[1]", retries: "11" };
    expect(buildStep(h).errors).toEqual({ url: expect.any(String), headers: "Must be a JSON object", retries: expect.stringMatching(/0 to 10/) });
    expect(buildStep({ ...blankStep(), url: "{{ trigger.record.url }}" }).step).toMatchObject({ url: "{{ trigger.record.url }}" });
    expect(buildStep({ ...blankStep("delay"), seconds: "86400" }).step).toEqual({ action: "delay", seconds: 86400 });
    expect(buildStep({ ...blankStep("delay"), seconds: "9999999" }).errors.seconds).toMatch(/2,592,000/);
    const u = { ...blankStep("update_record"), collection: "posts", id: "7", data: '{"views": 1}' };
    expect(buildStep(u).step).toEqual({ action: "update_record", collection: "posts", id: 7, data: { views: 1 } });
    expect(buildStep({ ...blankStep("condition"), cond: "" }).errors).toEqual({ if: "Required" });
    expect(buildStep({ ...blankStep(), name: "1bad", url: "https://e.x" }).errors.name).toBeDefined();
  });
  it("turns stored steps back into drafts, flat keys over config", () => {
    const d = draftFromStep({ action: "http_request", url: "https://a.b", config: { url: "https://c.d", method: "put" } });
    expect(d).toMatchObject({ action: "http_request", url: "https://a.b", method: "PUT" });
    expect(buildStep(draftFromStep({ action: "delete_record", collection: "posts", id: "{{ trigger.record.id }}" })!).step)
      .toEqual({ action: "delete_record", collection: "posts", id: "{{ trigger.record.id }}" });
    expect(draftFromStep({ action: "teleport" })).toBeNull();
  });
  it("places the server's 422 items under the step input they name", () => {
    const e = decodeError(422, { detail: [
      { loc: ["body", "steps", 1, "url"], msg: "Step 1: URL must use http or https", type: "url_parsing" },
      { loc: ["body", "steps", 0, "retries"], msg: "Step 0: `retries` must be a whole number", type: "value_error" },
      { loc: ["body", "trigger_config", "cron"], msg: "bad cron", type: "value_error" },
      { loc: ["body", "steps"], msg: "too many", type: "too_long" },
    ] });
    const drafts = [blankStep("transform"), blankStep()];
    const p = placeErrors(e, drafts, "schedule");
    expect(p.steps).toEqual({ "1.url": "URL must use http or https", "0.": "retries: `retries` must be a whole number" });
    expect(p.top).toEqual({ cron: "bad cron" });
    expect(p.rest).toEqual(["steps: too many"]);
    expect(alertText(p)).toBe("Fix 3 fields; steps: too many");
    const raw = placeErrors(e, null, "");
    expect(raw.rest[0]).toBe("steps[1].url: URL must use http or https");
    const c = placeErrors(decodeError(400, { detail: "Step 0: collection 'nope' not found" }), [blankStep("create_record")], "manual");
    expect(c.steps).toEqual({ "0.collection": "Collection 'nope' not found" });
    const t = placeErrors(decodeError(400, { detail: "Collection 'x' not found" }), [], "record.created");
    expect(t.top).toEqual({ collection: "Collection 'x' not found" });
  });
  it("formats durations", () => {
    expect(formatDuration(12)).toBe("12 ms");
    expect(formatDuration(1500)).toBe("1.5 s");
    expect(formatDuration(184_000)).toBe("3 min 4 s");
    expect(formatDuration(null)).toBe("—");
  });
});

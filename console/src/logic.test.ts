// Unit tests of the console's pure logic: API error decoding (§2.3), URL filters (§3.6), sorting.
import { describe, expect, it } from "vitest";
import { decodeError, tokenExpiry, withQuery } from "./api/client";
import { filterQuery, opsFor, readFilters, writeFilters } from "./screens/data/filters";
import { nextSort, parseSort } from "./ui/Table";
import { slugProblem, reservedNote, titleFromSlug } from "./ui/form";
import { toCsv } from "./screens/data/exporting";
import { typeProblem } from "./screens/data/RecordDrawer";
import { convert, parseCsv } from "./screens/data/ImportDialog";

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

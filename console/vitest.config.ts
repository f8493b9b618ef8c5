// Unit tests of the pure modules (filters, error decoding, sorting); the browser journeys are
// Playwright's (e2e/).
import { defineConfig } from "vitest/config";

export default defineConfig({ test: { include: ["src/**/*.test.ts"], environment: "node" } });

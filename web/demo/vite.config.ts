import { defineConfig } from "vite";

// Relative base: the built page works from any folder (and file server).
export default defineConfig({
  base: "./",
  worker: { format: "es" },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  server: { host: "127.0.0.1", fs: { allow: [".."] } },
});

// Debian's chromium, headless, driven by playwright-core, on the built demo
// served from 127.0.0.1 (ephemeral port).  Used by the tests and the bench.
import { chromium } from "playwright-core";
import path from "node:path";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { serve } from "./serve.mjs";

export const demoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** { browser, server, open(context?) → page ready to use, close() }.
 * `fakeAudio`: a WAV file the fake microphone plays once. */
export async function launch({ fakeAudio } = {}) {
  const dist = path.join(demoDir, "dist");
  if (!existsSync(path.join(dist, "index.html"))) throw new Error("web/demo/dist is missing: run npm run build in web/demo");
  const server = await serve(dist);
  const args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"];
  if (fakeAudio)
    args.push("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              `--use-file-for-fake-audio-capture=${fakeAudio}%noloop`);
  let browser;
  try {
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args });
  } catch (e) {
    await server.close();
    throw e;
  }
  return {
    browser,
    server,
    /** A new page on the demo, after the wasm library loaded; page.errors collects uncaught errors. */
    async open(context) {
      const page = await (context ?? browser).newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.waitForSelector("#status[data-ready]", { timeout: 60000 });
      page.errors = errors;
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

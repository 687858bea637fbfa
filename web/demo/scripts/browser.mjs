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
  // Headless chromium opens a browser window per context, and each window
  // preloads the omnibox's WebUI pages in a renderer of their own: ~1.3 s of
  // a core and ~0.6 s of parsing threads, at the moment the page loads, on
  // a 2-core machine.  A browser in use has done that long before a page
  // opens; here it would be noise in every start-up figure.
  const args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required",
                "--disable-features=WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup"];
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
    /** A new page on the demo (`query`: "?example=text", ...), after the wasm
     * library loaded; page.errors collects uncaught errors. */
    async open(context, query = "") {
      const page = await (context ?? browser).newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(server.url + query);
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

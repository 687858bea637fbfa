/*
 * The package panel: load a .rmpkg (validated by PackageLoader: zip,
 * members, checksums, limits; its python/ files become Python nodes), or
 * create one from the editor's manifest (+ the Python panel's code) and
 * download it.
 */
import { PackageLoader, createPackage, pythonModuleName } from "../../dist/index.js";
import type { RemoteMediaWorker } from "../../dist/worker-client.js";

export interface PanelContext {
  rmw: RemoteMediaWorker;
  ready: Promise<unknown>;
  wasmURL: URL;
  editor: HTMLTextAreaElement;
  pyCode: HTMLTextAreaElement;
  pythonLoaded: () => boolean;
  validate: () => Promise<boolean>;
  showError: (e: unknown) => void;
  clearError: () => void;
}

const decoder = new TextDecoder();

export function setupPackages(c: PanelContext): void {
  const st = document.getElementById("pkg-status")!;
  const input = document.getElementById("pkg-file") as HTMLInputElement;
  const link = document.getElementById("pkg-download") as HTMLAnchorElement;

  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    c.clearError();
    st.dataset.state = "loading";
    st.textContent = `Checking ${file.name}…`;
    await c.ready;
    try {
      // the node types are checked below by this page's runtime (wasm + Python)
      const pkg = await PackageLoader.loadFromFile(file, { instantiate: false });
      const files: Record<string, string> = {};
      for (const [name, data] of pkg.python) if (name.endsWith(".py")) files[name.slice("python/".length)] = decoder.decode(data);
      // the modules that define the declared node types (metadata.json
      // runtime_info.python_node_types); without a declaration, the top-level ones
      const declared = [...pkg.pythonNodeTypes];
      const modules = declared.length ? [...new Set(declared.map(([, f]) => pythonModuleName(f)))]
        : Object.keys(files).flatMap((f) =>
          !f.includes("/") ? [f.slice(0, -3)] : f.endsWith("/__init__.py") && f.split("/").length === 2 ? [f.split("/")[0]!] : []);
      if (modules.length) {
        const { nodeTypes } = (await c.rmw.python({ files, modules })) as { nodeTypes: string[] };
        const missing = declared.filter(([t]) => !nodeTypes.includes(t));
        if (missing.length)
          throw new Error(missing.map(([t, f]) => `${pkg.name}: ${f}: error: importing it did not register Python node type '${t}'`).join("\n"));
      }
      c.editor.value = pkg.manifestText;
      c.editor.dispatchEvent(new Event("input"));
      const ok = await c.validate();
      const warn = pkg.warnings.map((w) => w.text).join("; ");
      st.textContent = `${pkg.name}: ${pkg.members.length} members` + (modules.length ? `, Python modules ${modules.join(", ")}` : "") +
        (declared.length ? `, Python node types ${declared.map(([t]) => t).join(", ")}` : "") +
        (warn ? ` (warnings: ${warn})` : "") + (ok ? "; the manifest is in the editor." : "; its manifest does not validate here.");
      st.dataset.state = ok ? "loaded" : "invalid";
    } catch (e) {
      st.textContent = `${file.name} was refused.`;
      st.dataset.state = "error";
      c.showError(e);
    } finally {
      input.value = "";
    }
  });

  document.getElementById("pkg-create")!.addEventListener("click", async () => {
    c.clearError();
    try {
      let manifest: Record<string, unknown>;
      try {
        manifest = JSON.parse(c.editor.value) as Record<string, unknown>;
      } catch {
        throw new Error("a package's manifest.json is JSON: the editor holds YAML or invalid JSON");
      }
      if (!(await c.validate())) throw new Error("the manifest does not validate: fix it first");
      const wasm = new Uint8Array(await (await fetch(c.wasmURL)).arrayBuffer());
      const python = c.pythonLoaded() ? { "user_nodes.py": c.pyCode.value } : undefined;
      const bytes = await createPackage({ manifest: c.editor.value, wasm, python });
      const md = (manifest.metadata ?? {}) as { name?: string };
      const name = `${(md.name ?? "pipeline").replace(/[^A-Za-z0-9_.-]/g, "_")}.rmpkg`;
      URL.revokeObjectURL(link.href);
      link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
      link.download = name;
      link.textContent = `Download ${name} (${bytes.length} bytes)`;
      link.hidden = false;
      st.textContent = `Created ${name}.`;
      st.dataset.state = "created";
      link.click();
    } catch (e) {
      st.dataset.state = "error";
      c.showError(e);
    }
  });
}

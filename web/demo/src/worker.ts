// The demo's pipeline worker: the package's worker module, bundled by Vite.
import "../../dist/worker.js";

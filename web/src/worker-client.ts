/*
 * The page's handle on the pipeline worker (worker.ts): promise-returning
 * calls; errors come back as RemoteMediaError with the library's located
 * message (or the Python error).
 */
import { RemoteMediaError, type Frame, type Output, type GraphInfo } from "./index.js";
import type { WorkerInit } from "./worker.js";
import type { PythonStartup } from "./python.js";

export interface ExecuteReply {
  outputs: Output[];
  metrics: Record<string, unknown>;
  timeMs: number;
}

export class RemoteMediaWorker {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data as { id: number; ok: boolean; value?: unknown; error?: { message: string; name?: string; code?: number } };
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new RemoteMediaError(m.error?.message ?? "worker error", m.error?.code ?? -22));
    };
    worker.onerror = (e) => {
      for (const w of this.waiting.values()) w.reject(new RemoteMediaError(`worker failed: ${e.message}`, -22));
      this.waiting.clear();
    };
  }

  call<T>(op: string, args: Record<string, unknown> = {}, transfer: Transferable[] = []): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, ...args }, transfer);
    });
  }

  init(init: WorkerInit): Promise<{ version: string; loadMs: number }> {
    return this.call("init", { init });
  }
  loadPython(): Promise<{ version: string; loadMs: number; totalMs: number; nodeTypes: string[]; startup: PythonStartup }> {
    return this.call("loadPython");
  }
  /** Adds Python files / runs Python code; returns the Python node types. */
  python(args: { files?: Record<string, string>; modules?: string[]; code?: string }): Promise<{ nodeTypes: string[] }> {
    return this.call("python", args);
  }
  validate(manifest: string, name = "manifest"): Promise<{ info: GraphInfo; warnings: string }> {
    return this.call("validate", { manifest, name });
  }
  execute(manifest: string, inputs: Frame[]): Promise<ExecuteReply> {
    return this.call("execute", { manifest, inputs });
  }
  nodes(): Promise<{ name: string; family?: string; doc?: string }[]> {
    return this.call("nodes");
  }
  /** A streaming session; `drop` lists sinks ("node" or "node.port") whose outputs are not sent back. */
  async open(manifest: string, drop: string[] = []): Promise<WorkerSession> {
    const { session } = await this.call<{ session: number }>("open", { manifest, drop });
    return new WorkerSession(this, session);
  }
  terminate(): void {
    this.worker.terminate();
  }
}

export class WorkerSession {
  constructor(private readonly w: RemoteMediaWorker, readonly id: number) {}
  /** Pushes frames; resolves with the outputs they produced. Audio buffers are transferred. */
  push(frames: Frame[]): Promise<{ outputs: Output[]; pushMs: number }> {
    const transfer = frames.flatMap((f) =>
      f && typeof f === "object" && "samples" in f && ArrayBuffer.isView((f as { samples: ArrayBufferView }).samples)
        ? [(f as { samples: ArrayBufferView }).samples.buffer as ArrayBuffer] : []);
    return this.w.call("push", { session: this.id, frames }, transfer);
  }
  flush(): Promise<{ outputs: Output[] }> {
    return this.w.call("flush", { session: this.id });
  }
  metrics(): Promise<Record<string, unknown>> {
    return this.w.call("metrics", { session: this.id });
  }
  close(): Promise<void> {
    return this.w.call("close", { session: this.id });
  }
}

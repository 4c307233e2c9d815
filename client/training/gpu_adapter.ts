// What the clients say about a WebGPU adapter, in every runtime: its
// description, and whether it is a software one (Chromium's SwiftShader,
// Mesa's llvmpipe), which trains slower than wasm on the same CPU.

/** The part of a WebGPU adapter read here. */
export interface AdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; device?: string };
  isFallbackAdapter?: boolean;
}

/** The part of `navigator.gpu` used here. */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}

/** Whether `adapter` runs on the CPU (a fallback adapter, or a known software renderer). */
export function isSoftwareAdapter(adapter: AdapterLike): boolean {
  const info = adapter.info ?? {};
  const fallback = adapter.isFallbackAdapter ??
    (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  const text = `${info.vendor ?? ""} ${info.architecture ?? ""} ${info.description ?? ""}`;
  return fallback || /swiftshader|llvmpipe|lavapipe|softpipe|software/i.test(text);
}

/** `vendor architecture description`, and `(software)` for a software adapter. */
export function describeAdapter(adapter: AdapterLike): string {
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description]
    .filter((part) => part && !/^\d+$/.test(part))
    .join(" ") || "unknown adapter";
  return isSoftwareAdapter(adapter) ? `${name} (software)` : name;
}

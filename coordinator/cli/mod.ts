/**
 * The coordinator CLI's parts: its flags, how it listens (TLS, public URL,
 * connection limits), its task-setting flags and task files.
 * @module
 */
export * from "./listen_flags.ts";
export * from "./load_task.ts";
export * from "./task_flags.ts";

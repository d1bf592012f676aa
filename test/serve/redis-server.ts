// A throwaway redis-server for the queue tests (Debian package redis-server; .ci/run installs it when missing): on a
// free loopback port, no persistence, stopped after. REDIS_SKIP says why the tests skip when it is not installed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

export const REDIS_BINARY = process.env.DITTO_REDIS_SERVER ?? "redis-server";
const found = spawnSync(REDIS_BINARY, ["--version"], { encoding: "utf8" });
export const HAS_REDIS = found.status === 0;
export const REDIS_SKIP = HAS_REDIS ? "" : `${REDIS_BINARY} is not installed (apt-get install -y redis-server; .ci/run installs it)`;

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(REDIS_BINARY, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("Ready to accept connections")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code} before it was ready:\n${log}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    }),
  };
}

// Owns loopback networking helpers: picking a free 127.0.0.1 port and waiting until a port accepts.
import { createServer, connect } from 'node:net';
import { sleep } from './proc.js';

export const LOOPBACK = '127.0.0.1';

/** Binds port 0 on 127.0.0.1, reads the port the kernel chose, and releases it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1_000, () => done(false));
  });
}

/**
 * Waits until 127.0.0.1:port accepts a TCP connection. `stillAlive` lets the caller give up early
 * when the server process has died. Throws after timeoutMs.
 */
export async function waitForPort(port: number, timeoutMs: number, stillAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(port)) return;
    if (!stillAlive()) throw new Error(`process died before port ${port} opened`);
    await sleep(100);
  }
  throw new Error(`port ${port} did not open within ${timeoutMs / 1000} s`);
}

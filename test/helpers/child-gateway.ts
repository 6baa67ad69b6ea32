// A gateway as a real child process (`phigate start`) for crash and signal tests: its output is drained (a full
// pipe would block its logger) and kept for failure messages; it is killed by PID when the test ends.
import type { ChildProcess } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { freePort, spawnGateway, waitForPort } from './gateway.js';

export interface ChildGateway {
  child: ChildProcess;
  pid: number;
  output(): string;
  alive(): boolean;
}

/** Spawns `phigate start --config file`, waits for `port` to accept connections, kills it by PID at teardown. */
/** Starts within timeoutMs (60 s: a loaded two-core runner with several test files at once is slow to start Node). */
export async function startChildGateway(t: ExecutionContext, configFile: string, port: number, timeoutMs = 60_000): Promise<ChildGateway> {
  const child = spawnGateway(configFile);
  let out = '';
  child.stdout?.on('data', (d) => { out = (out + String(d)).slice(-20_000); });
  child.stderr?.on('data', (d) => { out = (out + String(d)).slice(-20_000); });
  const pid = child.pid!;
  const alive = () => child.exitCode === null && child.signalCode === null;
  t.teardown(() => {
    if (alive()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`gateway exited early (code ${code}, signal ${signal}):\n${out}`))));
  exited.catch(() => undefined);
  await Promise.race([waitForPort(port, timeoutMs), exited]);
  return { child, pid, output: () => out, alive };
}

/**
 * Starts the gateway of `configFile` again after it stopped or was killed, with the listener that was on
 * `oldPort` moved to a new port first: while no gateway held the old one, any process on the machine (a parallel
 * test's outbound connection, say) may have been given it.
 */
export async function restartChildGateway(t: ExecutionContext, configFile: string, oldPort: number): Promise<ChildGateway> {
  const port = await freePort();
  const config = readFileSync(configFile, 'utf8');
  if (!config.includes(`port: ${oldPort}\n`)) throw new Error(`port ${oldPort} is not in ${configFile}`);
  writeFileSync(configFile, config.replace(`port: ${oldPort}\n`, `port: ${port}\n`));
  return startChildGateway(t, configFile, port);
}

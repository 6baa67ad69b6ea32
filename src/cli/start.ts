// Owns `phigate start`: runs the gateway in the foreground; SIGTERM/SIGINT stop it gracefully, SIGHUP reloads.
import type { Command } from 'commander';
import { startGateway } from '../gateway.js';
import { withConfig } from './common.js';

export function registerStart(program: Command): void {
  withConfig(program.command('start'))
    .description('run the gateway in the foreground (listeners, queue, delivery)')
    .action(async (_o, cmd: Command) => {
      const { config } = cmd.optsWithGlobals() as { config?: string };
      const gw = await startGateway({ configFile: config });
      await new Promise<void>((resolve) => {
        const stop = () => { gw.stop().then(resolve, resolve); };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        process.on('SIGHUP', () => gw.reload());
      });
    });
}

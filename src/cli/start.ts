// Owns `phigate start`: runs the gateway in the foreground; SIGTERM/SIGINT stop it gracefully, SIGHUP reloads.
import type { Command } from 'commander';
import { withConfig } from './common.js';
import { tuneHeapGrowth } from './heap-growth.js';

export function registerStart(program: Command): void {
  withConfig(program.command('start'))
    .description('run the gateway in the foreground (listeners, queue, delivery)')
    .action(async (_o, cmd: Command) => {
      const { config } = cmd.optsWithGlobals() as { config?: string };
      // loaded here, not at the top: the admin commands (user, dkim, queue, audit) then start without loading
      // the whole pipeline (smtp-server, nodemailer, mailauth), and keep working while it is broken
      tuneHeapGrowth(); // before the pipeline's modules and dictionaries fill the heap: see heap-growth.ts
      const { startGateway } = await import('../gateway.js');
      const gw = await startGateway({ configFile: config });
      await new Promise<void>((resolve) => {
        const stop = () => { gw.stop().then(resolve, resolve); };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        process.on('SIGHUP', () => gw.reload());
      });
    });
}

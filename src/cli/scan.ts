// Owns `phigate scan FILE.eml [--json]`: the inspect stage on one file, with no config, certificates or data
// directory needed. Prints types, counts and masked samples only; exit 0 whatever the verdict, 2 for a file
// that is not a message.
import type { Command } from 'commander';
import { readFileSync, existsSync } from 'node:fs';
import { PhigateError, FileProblemsError } from '../errors.js';
import { print, table } from './common.js';

async function readInput(file: string): Promise<Buffer> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return readFileSync(file);
  } catch (e) {
    throw new PhigateError('SCAN_INPUT', `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { exitCode: 2 });
  }
}

export function registerScan(program: Command): void {
  program.command('scan <file>')
    .description('scan a message (FILE.eml, or - for standard input) for PHI and print the findings')
    .option('--json', 'print one JSON object')
    .option('-c, --config <file>', 'use the policies folder (detectors.yaml) of this config; without it, ./policies when present')
    .option('--policies <dir>', 'the policies folder whose detectors.yaml to use')
    .action(async (file: string, o: { json?: boolean; config?: string; policies?: string }) => {
      // loaded here so that every other subcommand starts without mailparser and the detectors
      const { withOrg } = await import('../inspect/dictionary.js');
      const { loadOrgDetectors, NO_ORG_DETECTORS } = await import('../inspect/org-detectors.js');
      let policies = o.policies;
      if (!policies && (o.config || process.env['PHIGATE_CONFIG'])) {
        const { loadConfig } = await import('../config/load.js');
        policies = loadConfig(o.config).policies;
      }
      policies ??= existsSync('policies') ? 'policies' : undefined;
      const org = policies ? loadOrgDetectors(policies) : { detectors: NO_ORG_DETECTORS, problems: [] };
      if (org.problems.length) throw new FileProblemsError('CONFIG_INVALID', org.problems);
      const { scanMessage } = await import('../inspect/scan.js');
      const { looksLikeMessage } = await import('../inspect/message-check.js');
      const raw = await readInput(file);
      const why = looksLikeMessage(raw);
      if (why) throw new PhigateError('SCAN_INPUT', `${file === '-' ? 'standard input' : file}: not an email message (${why})`, { exitCode: 2 });
      const result = await scanMessage(raw, { dictionaries: withOrg(undefined, org.detectors) });
      if (o.json) {
        const { phi, score, findings, unscanned, reasons } = result;
        return print(JSON.stringify({ phi, score, reasons, findings, unscanned }));
      }
      print(`PHI: ${result.phi ? 'yes' : 'no'}  (score ${result.score}${result.reasons.length ? `; ${result.reasons.join(', ')}` : ''})`);
      if (result.findings.length) {
        print('');
        print(table(['TYPE', 'WHERE', 'COUNT', 'CONFIDENCE', 'SAMPLE'], result.findings.map((f) => [f.type, f.where, String(f.count), f.confidence.toFixed(2), f.sample])));
      } else print('no findings');
      if (result.unscanned.length) {
        print('');
        print(table(['NOT SCANNED', 'REASON'], result.unscanned.map((u) => [u.where, u.reason])));
      }
    });
}

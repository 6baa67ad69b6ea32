// Runs the real swaks SMTP client and returns its exit status and transcript.
import { spawn } from 'node:child_process';

export interface SwaksResult { code: number; out: string }

export function swaks(args: string[], input?: string, timeoutMs = 30_000): Promise<SwaksResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('swaks', ['--hide-informational', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`swaks timed out:\n${out}`)); }, timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, out }); });
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}

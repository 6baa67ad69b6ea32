// Organisation detectors (policies/detectors.yaml): validation with file:line:col, their effect on findings and
// on the verdict by role, and live reload in a running gateway.
import test from 'ava';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOrgDetectors, loadOrgDetectors } from '../../src/inspect/org-detectors.js';
import { withOrg } from '../../src/inspect/dictionary.js';
import { scanMessage } from '../../src/inspect/scan.js';
import { queryAudit } from '../../src/audit/query.js';
import { makeGatewayDir, startTestGateway, ROOT } from '../helpers/gateway.js';
import { swaks } from '../helpers/swaks.js';

const msg = (body: string) => Buffer.from(`From: desk@clinic.example\r\nTo: records@partner.example\r\nSubject: Records\r\nMessage-ID: <o1@clinic.example>\r\n\r\n${body}\r\n`);

const FILE = `detectors:
  - id: lakeview-mrn
    type: mrn
    pattern: '\\bLV-\\d{7}\\b'
  - id: employee-id
    type: employee_id
    role: person-identifier
    pattern: '\\bE\\d{6}\\b'
    context: [employee]
words:
  medication: [zorblatinib]
`;

test('a custom MRN pattern is an mrn finding and makes the verdict', async (t) => {
  const { detectors, problems } = parseOrgDetectors('detectors.yaml', FILE);
  t.deepEqual(problems, []);
  const dict = withOrg(undefined, detectors);
  const r = await scanMessage(msg('Please send the chart for LV-1234567 to the sleep center.'), { dictionaries: dict });
  t.true(r.phi);
  t.deepEqual(r.reasons, ['health-identifier']);
  const f = r.findings.find((x) => x.type === 'mrn')!;
  t.is(f.count, 1);
  t.false(f.sample.includes('1234567'), 'masked');
  const plain = await scanMessage(msg('Please send the chart for LV-1234567 to the sleep center.'), { dictionaries: withOrg(undefined, { detectors: [], words: { medication: [], condition: [], procedure: [] } }) });
  t.false(plain.findings.some((x) => x.type === 'mrn'), 'without the detector there is no MRN');
});

test('a custom type counts by its role, needs its context words, and extra words join the dictionary', async (t) => {
  const dict = withOrg(undefined, parseOrgDetectors('detectors.yaml', FILE).detectors);
  const withCtx = await scanMessage(msg('Employee E123456 started zorblatinib last week.'), { dictionaries: dict });
  t.true(withCtx.findings.some((f) => f.type === 'employee_id'));
  t.true(withCtx.findings.some((f) => f.type === 'medication'), 'an organisation word is a medication');
  t.true(withCtx.phi);
  t.true(withCtx.reasons.includes('person+health'));
  const noCtx = await scanMessage(msg('Part E123456 started shipping last week.'), { dictionaries: dict });
  t.false(noCtx.findings.some((f) => f.type === 'employee_id'), 'no context word, no finding');
  t.false(noCtx.phi);
});

test('broken detector files give file:line:col problems', (t) => {
  const bad = `detectors:
  - id: Bad Id
    type: mrn
    pattern: '(unclosed'
    colour: red
  - id: x
    type: thing
    role: sometimes
    pattern: 'a*'
words:
  drugs: [x]
  medication: nope
extra: 1
`;
  const { problems } = parseOrgDetectors('/p/detectors.yaml', bad);
  const lines = problems.map((p) => `${p.line}:${p.col} ${p.message}`);
  t.true(lines.some((l) => /^2:\d+ "id" must be a lowercase name/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /^4:\d+ "pattern" is not a valid regular expression/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /^5:5 unknown key "colour"/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /^8:\d+ "role" must be one of/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /^9:\d+ "pattern" matches the empty string/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /^11:3 unknown key "drugs"/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /^12:\d+ "medication" must be a list/.test(l)), lines.join('\n'));
  t.true(lines.some((l) => /^13:1 unknown key "extra"/.test(l)), lines.join('\n'));
  t.true(problems.every((p) => p.file === '/p/detectors.yaml'));
});

test('a missing file means no organisation detectors; the shipped example is valid', (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'det-'));
  t.deepEqual(loadOrgDetectors(empty).problems, []);
  t.is(loadOrgDetectors(empty).detectors.detectors.length, 0);
  const dir = mkdtempSync(join(tmpdir(), 'det-'));
  writeFileSync(join(dir, 'detectors.yaml'), readFileSync(join(ROOT, 'policies', 'detectors.example.yaml')));
  const r = loadOrgDetectors(dir);
  t.deepEqual(r.problems, []);
  t.is(r.detectors.detectors.length, 2);
});

test('a running gateway picks up an edited detectors.yaml; an invalid edit keeps the previous detectors', async (t) => {
  const d = makeGatewayDir({ outbound: { routes: { '*': '127.0.0.1:9' }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1h'], maxAge: '2h' } } });
  mkdirSync(d.config['policies'], { recursive: true });
  const gw = await startTestGateway(d);
  t.teardown(() => gw.stop());
  const port = gw.listeners.addresses['relay']!.port;
  const send = async (id: string) => {
    const r = await swaks(['--server', '127.0.0.1', '--port', String(port), '--from', 'ehr@clinic.example', '--to', 'x@partner.example', '--h-Message-Id', `<${id}@clinic.example>`, '--body', 'Chart LV-7654321 attached.']);
    t.is(r.code, 0, r.out);
  };
  const scanned = async (id: string) => {
    for (let i = 0; i < 100; i++) {
      const e = queryAudit(gw.store, { messageId: `${id}@clinic.example`, event: 'scanned' })[0];
      if (e) return e.details as { findings: { type: string }[]; phi: boolean };
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no scanned event');
  };
  await send('before');
  t.false((await scanned('before')).findings.some((f) => f.type === 'mrn'));
  writeFileSync(join(d.config['policies'], 'detectors.yaml'), FILE);
  await new Promise((r) => setTimeout(r, 1500));
  await send('after');
  const after = await scanned('after');
  t.true(after.findings.some((f) => f.type === 'mrn'));
  t.true(after.phi);
  writeFileSync(join(d.config['policies'], 'detectors.yaml'), 'detectors: [ {id: x, type: mrn, pattern: "("} ]\n');
  await new Promise((r) => setTimeout(r, 1500));
  await send('broken');
  t.true((await scanned('broken')).findings.some((f) => f.type === 'mrn'), 'the previous good detectors stay in force');
});

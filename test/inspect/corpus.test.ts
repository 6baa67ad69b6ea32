// Accuracy on the labelled corpus (test/fixtures/phi-corpus, labels written from the rules,
// independently of the detector): message-level precision and recall must be at least 0.95, and every
// entity type's recall is reported (and held to a floor). Output names files and types only, never values.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanMessage } from '../../src/inspect/scan.js';
import { loadDictionaries } from '../../src/inspect/dictionary.js';
import { ENTITY_TYPES, type EntityType } from '../../src/inspect/types.js';
import { ROOT } from '../helpers/gateway.js';

const DIR = join(ROOT, 'test', 'fixtures', 'phi-corpus');
interface Label { phi: boolean; types: EntityType[] }

test('message-level precision and recall are at least 0.95; per-type recall is reported', async (t) => {
  const labels = JSON.parse(readFileSync(join(DIR, 'labels.json'), 'utf8')) as Record<string, Label>;
  const files = Object.keys(labels);
  t.true(files.length >= 150, 'the corpus holds at least 150 messages');
  const dictionaries = loadDictionaries();
  let tp = 0, fp = 0, fn = 0;
  const perType = new Map<EntityType, { expected: number; found: number }>();
  const wrong: string[] = [];
  for (const file of files) {
    const label = labels[file]!;
    const r = await scanMessage(readFileSync(join(DIR, file)), { dictionaries });
    t.false(r.reasons.includes('scan-failed'), `${file} scanned without failing`);
    if (r.phi && label.phi) tp++;
    else if (r.phi) { fp++; wrong.push(`false positive ${file} (${r.reasons.join(',')})`); }
    else if (label.phi) { fn++; wrong.push(`false negative ${file}`); }
    const got = new Set(r.findings.map((f) => f.type));
    for (const type of label.types) {
      const s = perType.get(type) ?? { expected: 0, found: 0 };
      s.expected++;
      if (got.has(type)) s.found++;
      perType.set(type, s);
    }
  }
  const precision = tp / (tp + fp);
  const recall = tp / (tp + fn);
  t.log(`messages ${files.length}: precision ${precision.toFixed(3)}, recall ${recall.toFixed(3)} (tp ${tp}, fp ${fp}, fn ${fn})`);
  for (const w of wrong) t.log(w);
  for (const type of ENTITY_TYPES) {
    const s = perType.get(type);
    if (s) t.log(`${type.padEnd(15)} recall ${(s.found / s.expected).toFixed(2)} (${s.found}/${s.expected})`);
  }
  t.true(precision >= 0.95, `precision ${precision.toFixed(3)} >= 0.95`);
  t.true(recall >= 0.95, `recall ${recall.toFixed(3)} >= 0.95`);
  for (const [type, s] of perType) t.true(s.found / s.expected >= 0.8, `${type} recall ${(s.found / s.expected).toFixed(2)} >= 0.80`);
});

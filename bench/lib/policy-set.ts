// Owns the benchmark's 50-rule policy set: rules of every condition kind, written so that ordinary benchmark
// mail (1 KB, no PHI, to the sink's domain) passes all of them but the last, i.e. every message is evaluated
// against the whole set. Also measures the in-process cost of one evaluation.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPolicySet } from '../../src/policy/load.js';
import { evaluate } from '../../src/policy/evaluate.js';
import type { PolicyMessage } from '../../src/policy/conditions.js';
import { ENTITY_TYPES } from '../../src/envelope.js';

const KINDS = [
  (i: number) => `      recipient: { in: partners-${i % 3}.txt, notDomain: [n${i}.example] }\n    then: { deliver: verify }`,
  (i: number) => `      subject: { startsWith: "[secure-${i}]" }\n    then: { strip: "[secure-${i}]", encrypt: [tls, portal] }`,
  (i: number) => `      findings: { any: [ssn, mbi], min: ${1 + (i % 3)} }\n      recipient: { notDomain: [clinic${i}.example] }\n    then: { reject: "rule ${i}" }`,
  (i: number) => `      header: { name: X-Campaign-${i}, exists: true }\n      phi: true\n    then: { reject: "no consent ${i}" }`,
  (i: number) => `      sender: { domain: [dept${i}.clinic.example], listener: submission }\n    then: { deliver: encrypt }`,
  (i: number) => `      subject: { matches: "^(urgent|stat)[- ]${i}\\\\b" }\n    then: { quarantine: "review ${i}" }`,
  (i: number) => `      attachment: { name: { endsWith: ".x${i}" }, type: [application/*] }\n    then: { quarantine: "attachment ${i}" }`,
  (i: number) => `      size: { over: ${20 + i}MB }\n    then: { deliver: may, tag: { subject: "[big]" } }`,
  (i: number) => `      unscanned: [encrypted]\n      recipient: { domain: [home${i}.example] }\n    then: { quarantine: "unscanned ${i}" }`,
  (i: number) => `      findings: { all: [mrn, dob] }\n      sender: { notIn: senders.txt, notDomain: [n${i}.example] }\n    then: { encrypt: [tls, pgp, smime, portal] }`,
];

/** Writes `rules` rules (the last one a catch-all) and their list files into dir. */
export function writePolicySet(dir: string, rules: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const body = Array.from({ length: rules - 1 }, (_, i) => `  - id: rule-${i + 1}\n    when:\n${KINDS[i % KINDS.length]!(i + 1)}`).join('\n');
  writeFileSync(join(dir, '10-bench.yaml'), `rules:\n${body}\n  - id: catch-all\n    then: { deliver: may }\n`);
  for (let k = 0; k < 3; k++) writeFileSync(join(dir, `partners-${k}.txt`), Array.from({ length: 200 }, (_, j) => `partner${k}-${j}.example`).join('\n') + '\n');
  writeFileSync(join(dir, 'senders.txt'), Array.from({ length: 500 }, (_, j) => `user${j}@clinic.example`).join('\n') + '\n');
}

/** Microseconds per message (one recipient) for evaluating the set in this process. */
export function evaluationCost(dir: string, iterations = 20_000): { rules: number; usPerMessage: number } {
  const { set, problems } = loadPolicySet(dir, { knownTypes: ENTITY_TYPES });
  if (!set) throw new Error(`benchmark policy set invalid: ${problems.map((p) => `${p.line}:${p.col} ${p.message}`).join('; ')}`);
  const msg: PolicyMessage = {
    sender: 'ehr@clinic.example', listener: 'relay', user: null, subject: 'Weekly schedule', size: 1400,
    headers: [['from', 'ehr@clinic.example'], ['to', 'p@example.org'], ['subject', 'Weekly schedule'], ['message-id', '<x@clinic.example>']],
    scan: { phi: false, score: 0.05, reasons: [], findings: [], unscanned: [], scanMs: 0, bytesScanned: 1400, attachments: [] },
  };
  for (let i = 0; i < 2000; i++) evaluate(set, msg, ['p@example.org']);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) evaluate(set, msg, [`p${i % 50}@example.org`]);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / iterations;
  return { rules: set.rules.length, usPerMessage: us };
}

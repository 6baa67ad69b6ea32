// Owns the message-level verdict: is this individually identifiable health information? Pure function of the
// units' hits and signals (see README "PHI verdict" for the rule in words).
import type { UnitAnalysis } from './analyze.js';
import type { EntityType, Unscanned } from './types.js';
import type { ScanFacts } from '../envelope.js';
import type { DetectorRole } from './org-detectors.js';

export interface Verdict { phi: boolean; score: number; reasons: string[] }

const HEALTH_ID_BUILTIN: EntityType[] = ['mrn', 'health_plan_id', 'mbi'];
const HEALTH_INFO_BUILTIN: EntityType[] = ['condition', 'medication', 'procedure', 'icd10', 'ndc'];

export function decide(units: UnitAnalysis[], unscanned: Unscanned[], orgRoles: Map<string, DetectorRole> = new Map()): Verdict {
  const best = new Map<string, number>();
  for (const u of units) for (const h of u.hits) best.set(h.type, Math.max(best.get(h.type) ?? 0, h.confidence));
  // an organisation's own types join the built-in ones by the role its detectors file gives them
  const byRole = (role: DetectorRole) => [...orgRoles].filter(([, r]) => r === role).map(([t]) => t);
  const HEALTH_ID = [...HEALTH_ID_BUILTIN, ...byRole('health-identifier')];
  const HEALTH_INFO = [...HEALTH_INFO_BUILTIN, ...byRole('health-information')];
  const PERSON_ID = ['ssn', 'dob', ...byRole('person-identifier')];
  const conf = (types: string[]) => Math.max(0, ...types.map((t) => best.get(t) ?? 0));
  const any = (f: (u: UnitAnalysis) => boolean) => units.some(f);
  const reasons: string[] = [];
  let score = 0;

  const healthId = conf(HEALTH_ID);
  if (healthId >= 0.6) { reasons.push('health-identifier'); score = Math.max(score, healthId); }

  const personId = Math.max(
    conf(PERSON_ID),
    any((u) => u.signals.patientName) ? 0.85 : 0,
    any((u) => u.signals.personAddress) ? 0.75 : 0,
    any((u) => u.signals.accountNumber) ? 0.7 : 0,
  );
  const clinicalAppointment = any((u) => u.signals.appointment) && (units.some((u) => u.services > 0) || (best.get('procedure') ?? 0) > 0);
  const result = any((u) => u.signals.result) && (best.get('procedure') ?? 0) > 0;
  const healthInfo = Math.max(conf(HEALTH_INFO), clinicalAppointment ? 0.8 : 0, result ? 0.85 : 0);
  if (personId > 0 && healthInfo > 0) { reasons.push('person+health'); score = Math.max(score, Math.min(personId, healthInfo) * 0.95 + 0.04); }

  const bulk = any((u) => u.signals.bulk);
  const greeting = any((u) => u.signals.greetingName);
  const own = units.map((u) => u.ownHealth).filter((o): o is { specific: boolean } => o !== null);
  const ownSpecific = own.some((o) => o.specific);
  // a fact about the reader ("your prescription is ready") in a message that also names health information
  const personalFact = units.some((u) => u.signals.secondPerson.some((s) => s.specific));
  const namesHealth = conf(HEALTH_INFO) > 0;
  if ((ownSpecific && (greeting || !bulk)) || (greeting && own.length > 0 && !bulk) || (personalFact && namesHealth && !bulk)) {
    reasons.push('addressed-individual');
    score = Math.max(score, ownSpecific ? 0.9 : 0.75);
  }
  // a letter to one person about another person's health ("Dear Ms. Chen, ... his albuterol inhaler")
  if (greeting && !bulk && any((u) => u.otherHealth)) {
    reasons.push('about-individual');
    score = Math.max(score, 0.8);
  }
  // Possible PHI that could not be read is policy's call; it does not make the verdict by itself.
  if (!reasons.length) score = Math.max(0.05, Math.min(0.45, healthInfo * 0.3 + personId * 0.2 + (unscanned.length ? 0.1 : 0)));
  return { phi: reasons.length > 0, score: Math.round(score * 100) / 100, reasons };
}

/** The verdict of a scan that could not be made (threw, crashed, ran out of time or size): PHI, fail closed. */
export function failedScan(reason: string, bytes: number, unscanned: Unscanned[] = [], scanMs = 0): ScanFacts {
  return { phi: true, score: 1, reasons: ['scan-failed', reason], findings: [], unscanned, scanMs, bytesScanned: bytes };
}

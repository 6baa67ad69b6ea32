// Owns the envelope: the one typed value that travels from stage to stage and grows as it goes.
// Received (listener+spool) -> Inspected (inspect: the scan) -> Prepared (transform: final signed bytes)
// -> Attempted (deliver: per-recipient outcomes).

export type ListenerName = 'submission' | 'smtps' | 'relay' | 'internal' | 'portal';

export interface TlsFacts {
  protocol: string | null;
  cipher: string | null;
}

export interface ClientInfo {
  listener: ListenerName;
  clientIp: string;
  clientHostname?: string;
  helo?: string;
  user?: string;
  tls?: TlsFacts;
}

/** message: accepted from a client; dsn: a bounce we built; notice: a policy notification we built. */
export type MessageKind = 'message' | 'dsn' | 'notice';

/** What the listener hands to the spool: accepted, not yet durable. */
export interface Received {
  queueId: string;
  kind: MessageKind;
  messageId: string | null;
  fromDomain: string | null;
  /** Envelope sender; '' for the null sender <> */
  sender: string;
  recipients: string[];
  client: ClientInfo;
  size: number;
  sha256: string;
  receivedAt: number;
  /** RFC 3461 ENVID / RET, kept for DSNs */
  envid?: string;
}

/** held: waiting for an admin (quarantine); discarded: an admin deleted it from quarantine. */
export type RecipientState = 'pending' | 'deferred' | 'delivered' | 'bounced' | 'held' | 'discarded';

export type TlsLevel = 'none' | 'may' | 'encrypt' | 'verify';
export const TLS_RANK: Record<TlsLevel, number> = { none: 0, may: 1, encrypt: 2, verify: 3 };

/** The stronger of two TLS levels: how a rule's level and a destination's combine (never lowered). */
export function stronger(a: TlsLevel, b: TlsLevel): TlsLevel {
  return TLS_RANK[a] >= TLS_RANK[b] ? a : b;
}
/** How a protected message may leave: verified TLS, encrypted to the recipient's key or certificate, or the portal. */
export type EncryptMethod = 'tls' | 'pgp' | 'smime' | 'portal';
export const ENCRYPT_METHODS: readonly EncryptMethod[] = ['tls', 'pgp', 'smime', 'portal'];

/** Edits a rule makes to the copy a recipient gets. */
export interface ContentChanges {
  subjectPrefix?: string;
  /** trigger tags removed from the subject, such as [secure] */
  strip?: string[];
  headers?: [string, string][];
}

/** What policy decided for one recipient: the rule, its action and what it asks of delivery. */
export interface Route {
  rule: string;
  action: 'deliver' | 'encrypt' | 'reject' | 'quarantine';
  /** deliver: the TLS level the rule demands (raised by outbound.tls, never lowered) */
  tls?: TlsLevel;
  /** encrypt: the methods to try, in order */
  methods?: EncryptMethod[];
  /** reject / quarantine: the rule's reason, shown to the sender */
  reason?: string;
  changes?: ContentChanges;
  /** the rule's notify already tells the sender (so a hold does not send a second notice) */
  notifySender?: boolean;
}

export interface RecipientStatus {
  address: string;
  state: RecipientState;
  attempts: number;
  nextAttemptAt: number;
  lastReply?: string;
  lastError?: string;
  updatedAt: number;
  /** policy's decision; absent for our own DSNs and notices */
  route?: Route;
  /** encrypt: index of the method now in use in route.methods */
  method?: number;
  /** held: why, in words the sender and admin read */
  heldReason?: string;
}

/** A durable queue entry: the received envelope plus per-recipient delivery state. */
export interface Queued extends Received {
  status: RecipientStatus[];
  /** queued before its scan and policy decision (no rule could refuse it at DATA): both run before the first delivery */
  undecided?: true;
}

export const ENTITY_TYPES = [
  'ssn', 'mbi', 'npi', 'dea', 'mrn', 'health_plan_id', 'dob', 'icd10', 'ndc', 'condition', 'medication', 'procedure',
] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/** One kind of PHI found in one place: a type, a count and a masked sample, never the value. */
export interface Finding {
  /** a built-in entity type, or an organisation's own type from policies/detectors.yaml */
  type: EntityType | (string & {});
  where: string;
  count: number;
  confidence: number;
  sample: string;
}

export interface Unscanned {
  where: string;
  reason: 'image' | 'encrypted' | 'unknown-binary' | 'too-large' | 'too-deep' | 'zip-bomb' | 'unreadable' | 'audio-video';
}

/** What the inspect stage says about a message. `reasons` holds scan-failed when the scan failed closed. */
export interface ScanFacts {
  phi: boolean;
  score: number;
  reasons: string[];
  findings: Finding[];
  unscanned: Unscanned[];
  scanMs: number;
  bytesScanned: number;
  /** Attachments seen (name and declared type), for policy conditions; names never go into the audit. */
  attachments?: { name: string; type: string }[];
}

/** Inspect output: the queued message with its scan. */
export interface Inspected extends Queued {
  scan: ScanFacts;
}

export interface DkimResult {
  signed: boolean;
  domain?: string;
  selector?: string;
  algorithm?: string;
  reason?: string;
}

/** Transform output: the bytes that leave, built once. */
export interface Prepared extends Inspected {
  outBytes: Buffer;
  dkim: DkimResult;
}

export type DeliveryOutcome = 'delivered' | 'deferred' | 'bounced';

export interface RecipientOutcome {
  address: string;
  /** held: policy's fail-safe (no protected way to send) or a quarantine; never produced by deliver */
  outcome: DeliveryOutcome | 'held';
  reply: string;
  /** encrypt routes: the method index after this attempt */
  method?: number;
  /** Why: tls-unavailable, tls-verify-failed, connection, remote-4xx, remote-5xx, max-age ... */
  reason: string;
}

export interface HopFacts {
  host: string;
  ip: string | null;
  port: number;
  tls: { protocol: string | null; cipher: string | null; verified: boolean; required: string };
}

/** Deliver output for one next-hop batch of recipients. */
export interface Attempted {
  queueId: string;
  hop: HopFacts | null;
  outcomes: RecipientOutcome[];
}

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

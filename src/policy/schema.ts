// Owns the JSON Schema of a policy file (policies/*.yaml): rules with an id, a description, `when` conditions and
// a `then` action. The loader adds what a schema cannot say (regular expressions, list files, shadowing).

const strOrList = { type: ['string', 'array'], items: { type: 'string', minLength: 1 }, minLength: 1, description: 'a value or a list of values' };
const size = { type: ['string', 'integer'], pattern: '^\\d+(\\.\\d+)?\\s*(B|KB|MB|GB)?$', description: 'a size in bytes or with B, KB, MB, GB' };
const reasons = ['image', 'encrypted', 'unknown-binary', 'too-large', 'too-deep', 'zip-bomb', 'unreadable', 'audio-video'];

/** A text test: a string (contained, any case) or one of equals / contains / startsWith / endsWith / matches. */
const textTest = {
  type: ['string', 'object'], minLength: 1, additionalProperties: false, minProperties: 1,
  description: 'a text, or a mapping with equals, contains, startsWith, endsWith or matches',
  properties: {
    equals: { type: 'string' }, contains: { type: 'string', minLength: 1 }, startsWith: { type: 'string', minLength: 1 },
    endsWith: { type: 'string', minLength: 1 }, matches: { type: 'string', minLength: 1 }, caseSensitive: { type: 'boolean' },
  },
};

const addressTest = {
  address: strOrList, domain: strOrList, notDomain: strOrList, in: strOrList, notIn: strOrList,
};

const headerTest = {
  type: 'object', additionalProperties: false, required: ['name'],
  properties: { ...textTest.properties, name: { type: 'string', pattern: '^[!-9;-~]+$', description: 'a header name such as X-Campaign' }, exists: { type: 'boolean' } },
};

export const WHEN_KEYS = ['phi', 'scanFailed', 'findings', 'unscanned', 'sender', 'recipient', 'subject', 'header', 'attachment', 'size'] as const;
export const ROUTE_ACTIONS = ['deliver', 'encrypt', 'reject', 'quarantine'] as const;
export const THEN_KEYS = [...ROUTE_ACTIONS, 'tag', 'strip', 'notify'] as const;

export const ruleSchema = {
  type: 'object', additionalProperties: false, required: ['id', 'then'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'a short name such as phi-external (letters, digits, - _ .)' },
    description: { type: 'string' },
    when: {
      type: 'object', additionalProperties: false,
      properties: {
        phi: { type: 'boolean' },
        scanFailed: { type: 'boolean' },
        findings: {
          type: 'object', additionalProperties: false, minProperties: 1,
          properties: {
            any: strOrList, all: strOrList, none: strOrList,
            min: { type: 'integer', minimum: 1, description: 'a count of at least 1' },
          },
        },
        unscanned: { type: ['boolean', 'array'], items: { enum: reasons }, minItems: 1, description: 'true, false or a list of reasons' },
        sender: {
          type: 'object', additionalProperties: false, minProperties: 1,
          properties: {
            ...addressTest,
            user: strOrList,
            listener: { ...strOrList, items: { enum: ['submission', 'smtps', 'relay'] }, pattern: '^(submission|smtps|relay)$', description: 'submission, smtps, relay or a list of them' },
            authenticated: { type: 'boolean' },
          },
        },
        recipient: { type: 'object', additionalProperties: false, minProperties: 1, properties: addressTest },
        subject: textTest,
        header: { additionalProperties: false, required: ['name'], properties: headerTest.properties, type: ['object', 'array'], items: headerTest, description: 'a header test or a list of them' },
        attachment: {
          type: 'object', additionalProperties: false, minProperties: 1,
          properties: { name: textTest, type: strOrList },
        },
        size: { type: 'object', additionalProperties: false, minProperties: 1, properties: { over: size, under: size } },
      },
    },
    then: {
      type: 'object', additionalProperties: false, minProperties: 1,
      properties: {
        deliver: { enum: ['none', 'may', 'encrypt', 'verify'] },
        encrypt: { type: 'array', minItems: 1, items: { enum: ['tls', 'pgp', 'smime', 'portal'] }, description: 'a list of methods: tls, pgp, smime, portal' },
        reject: { type: 'string', minLength: 1, description: 'the reason the sender reads' },
        quarantine: { type: 'string', minLength: 1, description: 'the reason the sender and the admin read' },
        tag: {
          type: 'object', additionalProperties: false, minProperties: 1,
          properties: {
            subject: { type: 'string', minLength: 1 },
            header: { type: 'object', additionalProperties: { type: 'string' }, propertyNames: { pattern: '^[!-9;-~]+$' } },
          },
        },
        strip: strOrList,
        notify: {
          type: 'object', additionalProperties: false, required: ['to'],
          properties: { to: strOrList, text: { type: 'string', minLength: 1 } },
        },
      },
    },
  },
};

export const policyFileSchema = {
  type: 'object', additionalProperties: false, required: ['rules'],
  properties: { rules: { type: 'array', items: ruleSchema, description: 'a list of rules' } },
};

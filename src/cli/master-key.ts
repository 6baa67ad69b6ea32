// Owns `phigate master-key status|rotate|prune`: the key that seals every stored message. `rotate` makes a new
// current key and re-wraps every stored data key with it (the content is not re-encrypted), while a running
// gateway keeps working: it re-reads the key file within a second and can still open records of the old key.
// `prune` then drops retired keys that no record needs any more. Each change is audited with the admin's name.
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendDurable } from '../audit/append.js';
import { PhigateError } from '../errors.js';
import { readKeyring, writeKeyring, MASTER_KEY_ENV } from '../master-key.js';
import { masterKeyFrom, rewrap, sealedKeyId, keyringOf, type MasterKey } from '../seal.js';
import type { Store } from '../store.js';
import { adminName, configOf, print, table, withConfig, withStore } from './common.js';

function usage(store: Store): Map<string, number> {
  const counts = new Map<string, number>();
  for (const k of store.messages.getKeys({})) {
    const sealed = store.messages.getSealed(k);
    if (!sealed) continue;
    const id = sealedKeyId(sealed);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function fileKeys(file: string): MasterKey[] {
  const ring = readKeyring(file);
  const lines = readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  return lines.map((l) => masterKeyFrom(Buffer.from(l, 'base64'))).filter((k) => ring.byId(k.id));
}

function noEnv(): void {
  if (process.env[MASTER_KEY_ENV]) throw new PhigateError('MASTER_KEY', `${MASTER_KEY_ENV} is set: rotate the key where that variable comes from, not in the key file`);
}

export function registerMasterKey(program: Command): void {
  const mk = program.command('master-key').description('the master key that seals stored messages at rest');
  withConfig(mk.command('status'))
    .description('list the keys of the keyring and how many stored records each one wraps')
    .action(async (_o, cmd: Command) => {
      const config = configOf(cmd);
      const ring = readKeyring(config.portal.masterKey);
      await withStore(config, (store) => {
        const counts = usage(store);
        const ids = new Set([...ring.all.map((k) => k.id.toString('hex')), ...counts.keys()]);
        print(table(['KEY ID', 'ROLE', 'RECORDS'], [...ids].map((id) => [id, id === ring.current.id.toString('hex') ? 'current' : ring.byId(Buffer.from(id, 'hex')) ? 'retired' : 'MISSING', String(counts.get(id) ?? 0)])));
      });
    });
  withConfig(mk.command('rotate'))
    .description('make a new current key and re-wrap every stored record with it (no downtime)')
    .action(async (_o, cmd: Command) => {
      noEnv();
      const config = configOf(cmd);
      const file = config.portal.masterKey;
      const old = fileKeys(file);
      const fresh = masterKeyFrom(randomBytes(32));
      writeKeyring(file, [fresh.key, ...old.map((k) => k.key)]);
      const ring = keyringOf(fresh, old);
      await withStore(config, async (store) => {
        let rewrapped = 0;
        // a running gateway may still seal with the old key for up to a second: two passes catch those too
        for (let pass = 0; pass < 2; pass++) {
          if (pass) await new Promise((r) => setTimeout(r, 1500));
          const keys = [...store.messages.getKeys({})];
          for (let i = 0; i < keys.length; i += 500) {
            await store.env.transaction(() => {
              for (const k of keys.slice(i, i + 500)) {
                const sealed = store.messages.getSealed(k);
                if (!sealed || sealedKeyId(sealed) === fresh.id.toString('hex')) continue;
                void store.messages.putSealed(k, rewrap(sealed, ring));
                rewrapped++;
              }
            });
          }
        }
        await appendDurable(store, [{ event: 'admin', actor: adminName(), details: { action: 'master-key-rotate', newKeyId: fresh.id.toString('hex'), rewrapped } }]);
        print(`new master key ${fresh.id.toString('hex')}; ${rewrapped} stored record(s) re-wrapped; the old key stays in ${file} as retired until \`phigate master-key prune\``);
      });
    });
  withConfig(mk.command('prune'))
    .description('drop retired keys that no stored record needs')
    .action(async (_o, cmd: Command) => {
      noEnv();
      const config = configOf(cmd);
      const file = config.portal.masterKey;
      const [current, ...retired] = fileKeys(file);
      await withStore(config, async (store) => {
        const counts = usage(store);
        const keep = retired.filter((k) => (counts.get(k.id.toString('hex')) ?? 0) > 0);
        const dropped = retired.filter((k) => !keep.includes(k));
        writeKeyring(file, [current!.key, ...keep.map((k) => k.key)]);
        await appendDurable(store, [{ event: 'admin', actor: adminName(), details: { action: 'master-key-prune', dropped: dropped.map((k) => k.id.toString('hex')), kept: keep.map((k) => k.id.toString('hex')) } }]);
        print(`dropped ${dropped.length} retired key(s)${keep.length ? `; ${keep.length} still wrap stored records (run rotate first)` : ''}`);
      });
    });
}

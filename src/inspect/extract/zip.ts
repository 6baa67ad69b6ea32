// Owns ZIP archives (yauzl): lists and inflates entries within limits against zip bombs (entry count, total
// and per-entry uncompressed size, compression ratio, nesting depth). Encrypted entries are unscannable.
import yauzl from 'yauzl';
import type { ExtractResult, NestedPart } from './types.js';
import type { Unscanned } from '../types.js';

export interface ZipLimits { maxEntries: number; maxTotalBytes: number; maxEntryBytes: number; maxRatio: number }

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 1000, maxTotalBytes: 100 * 1024 * 1024, maxEntryBytes: 50 * 1024 * 1024, maxRatio: 200 };

export function zipEntries(data: Buffer, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Promise<ExtractResult> {
  return new Promise((resolve) => {
    yauzl.fromBuffer(data, { lazyEntries: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return resolve({ kind: 'unscanned', reason: 'unreadable' });
      const parts: NestedPart[] = [];
      const unscanned: { name: string; reason: Unscanned['reason'] }[] = [];
      let total = 0;
      let count = 0;
      let done = false;
      const finish = (r: ExtractResult) => { if (!done) { done = true; zip.close(); resolve(r); } };
      zip.on('error', () => finish({ kind: 'unscanned', reason: 'unreadable' }));
      zip.on('end', () => finish({ kind: 'nested', parts, unscanned }));
      zip.on('entry', (entry: yauzl.Entry) => {
        count++;
        if (count > limits.maxEntries) return finish({ kind: 'unscanned', reason: 'zip-bomb' });
        if (/\/$/.test(entry.fileName)) return zip.readEntry();
        if ((entry.generalPurposeBitFlag & 0x1) !== 0) {
          unscanned.push({ name: entry.fileName, reason: 'encrypted' });
          return zip.readEntry();
        }
        const ratio = entry.compressedSize > 0 ? entry.uncompressedSize / entry.compressedSize : 0;
        if (entry.uncompressedSize > limits.maxEntryBytes || total + entry.uncompressedSize > limits.maxTotalBytes || ratio > limits.maxRatio) {
          return finish({ kind: 'unscanned', reason: 'zip-bomb' });
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) { unscanned.push({ name: entry.fileName, reason: 'unreadable' }); return zip.readEntry(); }
          const chunks: Buffer[] = [];
          let size = 0;
          stream.on('data', (c: Buffer) => {
            size += c.length;
            if (size > limits.maxEntryBytes) { stream.destroy(); finish({ kind: 'unscanned', reason: 'zip-bomb' }); return; }
            chunks.push(c);
          });
          stream.on('error', () => { unscanned.push({ name: entry.fileName, reason: 'unreadable' }); zip.readEntry(); });
          stream.on('end', () => {
            total += size;
            parts.push({ name: entry.fileName, contentType: '', data: Buffer.concat(chunks) });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** Names of the entries in a ZIP's central directory (nothing is inflated); null when it is not a readable ZIP. */
export function zipEntryNames(data: Buffer, max = 5000): Promise<string[] | null> {
  return new Promise((resolve) => {
    yauzl.fromBuffer(data, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return resolve(null);
      const names: string[] = [];
      zip.on('error', () => resolve(null));
      zip.on('end', () => { zip.close(); resolve(names); });
      zip.on('entry', (e: yauzl.Entry) => {
        names.push(e.fileName);
        if (names.length >= max) { zip.close(); return resolve(names); }
        zip.readEntry();
      });
      zip.readEntry();
    });
  });
}

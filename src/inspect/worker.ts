// Owns the inspect worker thread: loads the dictionaries once and scans the messages the pool sends it, so
// scanning never blocks the SMTP listener's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { loadDictionaries } from './dictionary.js';
import { scanMessage } from './scan.js';

interface Job { id: number; bytes: Uint8Array }

const dictionaries = loadDictionaries((workerData as { dictionaryDir?: string } | undefined)?.dictionaryDir);
const port = parentPort!;
port.on('message', (job: Job) => {
  scanMessage(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), { dictionaries }).then(
    (result) => port.postMessage({ id: job.id, result }),
    (e: unknown) => port.postMessage({ id: job.id, error: (e as Error).message }),
  );
});
port.postMessage({ ready: true });

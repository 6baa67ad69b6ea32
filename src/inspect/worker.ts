// Owns the inspect worker thread: loads the dictionaries (and the organisation's detectors) once, scans the
// messages the pool sends it, and swaps in new organisation detectors when the policies are reloaded, so
// scanning never blocks the SMTP listener's event loop; it runs below the listener's CPU priority
// (thread-priority.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { withOrg } from './dictionary.js';
import { scanMessage } from './scan.js';
import { NO_ORG_DETECTORS, type OrgDetectors } from './org-detectors.js';
import { lowerThisThread } from './thread-priority.js';

interface Job { id: number; bytes: Uint8Array }

const data = (workerData ?? {}) as { dictionaryDir?: string; org?: OrgDetectors };
let dictionaries = withOrg(data.dictionaryDir, data.org ?? NO_ORG_DETECTORS);
// lowered once the dictionaries are built: a start under load does not wait for a low-priority thread to build them
const nice = lowerThisThread();
const port = parentPort!;
port.on('message', (msg: Job | { reload: OrgDetectors }) => {
  if ('reload' in msg) {
    dictionaries = withOrg(data.dictionaryDir, msg.reload);
    return;
  }
  const job = msg;
  scanMessage(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), { dictionaries }).then(
    (result) => port.postMessage({ id: job.id, result }),
    (e: unknown) => port.postMessage({ id: job.id, error: (e as Error).message }),
  );
});
port.postMessage({ ready: true, nice });

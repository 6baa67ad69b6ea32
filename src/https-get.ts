// Owns one small HTTPS GET for the fetches the standards ask of a mail gateway (MTA-STS policies, Web Key
// Directory keys): certificate and host name verified against the system trust store (plus an extra CA for
// tests), no redirects followed, a size cap and a deadline. A leaf: the deliver and transform stages share it.
import dns from 'node:dns';
import https from 'node:https';
import tls from 'node:tls';

export interface HttpsGetOptions {
  /** extra trust anchor (PEM), added to the system store */
  ca?: string | null;
  port?: number;
  /** host name to address; tests map names to 127.0.0.1 */
  lookup?: (host: string) => Promise<string>;
  timeoutMs?: number;
  maxBytes: number;
  accept?: string;
}

export interface HttpsResponse { status: number; contentType: string | undefined; body: Buffer }

function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** GET https://host/path. Rejects on network, TLS, size and time failures; any status is returned as is. */
export async function httpsGet(host: string, path: string, opts: HttpsGetOptions): Promise<HttpsResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const lookup = opts.lookup ?? (async (h: string) => (await dns.promises.lookup(h)).address);
  const ca = opts.ca ? [...tls.rootCertificates, opts.ca] : [...tls.rootCertificates];
  const deadline = Date.now() + timeoutMs;
  const address = await withDeadline(lookup(host), timeoutMs, `address lookup for ${host} timed out`);
  const kb = Math.round(opts.maxBytes / 1024);
  return new Promise<HttpsResponse>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => { if (!settled) { settled = true; clearTimeout(timer); req.destroy(); reject(err); } };
    const timer = setTimeout(() => fail(new Error(`https://${host}${path} timed out after ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
    const req = https.request({
      host: address, port: opts.port ?? 443, path, method: 'GET', agent: false,
      servername: host, headers: { host, ...(opts.accept ? { accept: opts.accept } : {}) },
      ca, rejectUnauthorized: true, minVersion: 'TLSv1.2',
    }, (res) => {
      const done = (body: Buffer) => { if (!settled) { settled = true; clearTimeout(timer); resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body }); } };
      if (res.statusCode !== 200) { res.resume(); return done(Buffer.alloc(0)); }
      if (Number(res.headers['content-length'] ?? 0) > opts.maxBytes) return fail(new Error(`https://${host}${path} is larger than ${kb} KB`));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > opts.maxBytes) return fail(new Error(`https://${host}${path} is larger than ${kb} KB`));
        chunks.push(c);
      });
      res.on('end', () => done(Buffer.concat(chunks)));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

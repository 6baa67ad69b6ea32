// A small HTTPS client for the portal tests: Node's https.request trusting the test CA only, with a cookie jar
// that keeps what Set-Cookie says (as a browser on the same site would), and form posts.
import { request } from 'node:https';

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  setCookies: string[];
}

export class PortalClient {
  readonly jar = new Map<string, string>();
  constructor(readonly port: number, readonly ca: string) {}

  send(method: 'GET' | 'POST', path: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Res> {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    return new Promise((resolve, reject) => {
      const req = request({
        host: '127.0.0.1', port: this.port, method, path, ca: this.ca, servername: 'localhost',
        headers: {
          ...(cookie ? { cookie } : {}),
          ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...headers,
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const setCookies = res.headers['set-cookie'] ?? [];
          for (const sc of setCookies) {
            const [pair] = sc.split(';');
            const eq = pair!.indexOf('=');
            const name = pair!.slice(0, eq).trim();
            const value = pair!.slice(eq + 1).trim();
            if (!value || /;\s*max-age=0/i.test(sc) || /expires=Thu, 01 Jan 1970/i.test(sc)) this.jar.delete(name);
            else this.jar.set(name, value);
          }
          const b = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body: b, text: b.toString('utf8'), setCookies });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  get(path: string, headers?: Record<string, string>) { return this.send('GET', path, undefined, headers); }
  post(path: string, form: Record<string, string>, headers?: Record<string, string>) { return this.send('POST', path, form, headers); }
}

/** The CSRF token of the page's first form. */
export function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token in the page');
  return m[1]!;
}

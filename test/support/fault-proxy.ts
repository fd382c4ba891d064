import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One AWS JSON-protocol call that passed through the proxy. */
export interface ProxiedCall {
  /** The `X-Amz-Target` operation, e.g. `DynamoDB_20120810.UpdateItem`. */
  readonly target: string;
  readonly body: string;
  /** Whether the proxy failed it instead of forwarding it. */
  readonly injected: boolean;
}

/**
 * An HTTP proxy in front of an emulator that records every JSON-protocol call and fails chosen ones, so that the real
 * bundled handler can be made to crash part-way through a batch (after some of its writes have landed) or to lose
 * its Firehose emission. It listens on 127.0.0.1 only.
 */
export class FaultProxy {
  readonly calls: ProxiedCall[] = [];
  /**
   * Window writes (UpdateItem; PutItem for session and stagger key items) still allowed through before every further
   * one fails; undefined: no limit.
   */
  updatesLeft: number | undefined;
  /** Fail every Firehose PutRecordBatch while true. */
  failEmissions = false;
  private server?: Server;

  constructor(private readonly upstream: URL) {}

  /** Starts listening; returns the endpoint to give the handler as AWS_ENDPOINT_URL. */
  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const target = String(req.headers['x-amz-target'] ?? '');
        const fail = this.shouldFail(target);
        this.calls.push({ target, body: body.toString('utf8'), injected: fail });
        if (fail) {
          // A 400 the SDK does not retry: the handler sees the failure at once, as after a crash of that call.
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: 'injected fault' }));
          return;
        }
        this.forward(req, body, res);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private shouldFail(target: string): boolean {
    if (target.endsWith('.PutRecordBatch')) return this.failEmissions;
    if ((target.endsWith('.UpdateItem') || target.endsWith('.PutItem')) && this.updatesLeft !== undefined) {
      if (this.updatesLeft <= 0) return true;
      this.updatesLeft--;
    }
    return false;
  }

  private forward(req: IncomingMessage, body: Buffer, res: import('node:http').ServerResponse): void {
    const up = request(
      {
        hostname: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: this.upstream.host },
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    up.end(body);
  }
}

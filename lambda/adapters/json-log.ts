import type { LogPort } from '../app/ports';

/** One JSON object per line on stdout/stderr, which CloudWatch Logs Insights parses without configuration. */
export class JsonLog implements LogPort {
  constructor(private readonly base: Record<string, unknown> = {}) {}

  info(message: string, fields?: Record<string, unknown>): void {
    console.log(JSON.stringify({ level: 'INFO', message, ...this.base, ...fields }));
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    console.warn(JSON.stringify({ level: 'WARN', message, ...this.base, ...fields }));
  }

  error(message: string, fields?: Record<string, unknown>): void {
    console.error(JSON.stringify({ level: 'ERROR', message, ...this.base, ...fields }));
  }
}

/** Where heartbeat alerts go. One implementation per service (Slack incoming webhook today). */
export interface Notifier {
  /** Safe to print: names the channel, never the secret URL. */
  readonly label: string;
  send(text: string): Promise<void>;
}

export class NotifyError extends Error {}

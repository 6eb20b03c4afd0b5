/**
 * Requests per address in fixed one-minute windows: enough for every join and install phase of a
 * few sites at once, far too few to guess a join token.
 */
export class AddressLimit {
  private window = -1;
  private readonly counts = new Map<string, number>();

  constructor(private readonly perMinute: number) {}

  /** Counts one request from `address`; when it is one too many, the seconds until it may try again. */
  take(address: string, now: number): number | null {
    const window = Math.floor(now / 60_000);
    if (window !== this.window) {
      this.window = window;
      this.counts.clear();
    }
    const count = (this.counts.get(address) ?? 0) + 1;
    this.counts.set(address, count);
    return count > this.perMinute ? Math.ceil(((window + 1) * 60_000 - now) / 1000) : null;
  }
}

import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy for the tests: stands between a parent and a child site, counts the bytes that go
 * each way, and can damage one byte on the way (the network faults tc netem cannot give us).
 * Put in front of a DP, it counts the bytes the DP answers, can hold them back after a number, cut
 * the connection after a number, or damage a byte of every answer.
 */
export class TestProxy {
  bytesToTarget = 0;
  /** Bytes passed on from the target back to whoever connected. */
  bytesFromTarget = 0;
  /** When set, connections are accepted and everything sent on them is dropped: a link that hangs. */
  blackhole = false;
  /** When the parent last sent a byte through (epoch ms). */
  lastDataAt = 0;
  /** When set, what is sent towards the target is kept here (as latin1 text): the requests a DP got. */
  sent: string[] | null = null;
  private flipAt: number | null = null;
  private holdAt: number | null = null;
  private cutAt: number | null = null;
  private flipEach: number | null = null;
  private readonly held = new Set<() => void>();
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;
  private listeningOn = 0;

  constructor(private readonly targetPort: number) {}

  /** The port the proxy listens on (0 before listen). */
  get port(): number {
    return this.listeningOn;
  }

  /** The URL that reaches the target through the proxy. */
  get url(): string {
    return `http://127.0.0.1:${this.listeningOn}`;
  }

  /** Flips one byte once, `offset` bytes from now, in the parent→child direction. */
  corruptOnce(offset: number): void {
    this.flipAt = this.bytesToTarget + offset;
  }

  /** Passes on at most `bytes` more from the target, then holds the rest until release(): a stalled link. */
  holdFromTargetAfter(bytes: number): void {
    this.holdAt = this.bytesFromTarget + bytes;
  }

  /** Passes on at most `bytes` more from the target, then cuts that connection (both ways), once. */
  cutFromTargetAfter(bytes: number): void {
    this.cutAt = this.bytesFromTarget + bytes;
  }

  /** On every connection from now on, flips the byte `offset` bytes into what the target answers (null: stop). */
  corruptEachFromTarget(offset: number | null): void {
    this.flipEach = offset;
  }

  /** Lets everything held back through, and what follows. */
  release(): void {
    this.holdAt = null;
    for (const resume of this.held) resume();
    this.held.clear();
  }

  async listen(port = 0): Promise<number> {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.on('data', (data: Buffer) => {
        if (this.blackhole) return;
        this.sent?.push(data.toString('latin1'));
        this.lastDataAt = Date.now();
        const start = this.bytesToTarget;
        this.bytesToTarget += data.length;
        if (this.flipAt !== null && this.flipAt >= start && this.flipAt < this.bytesToTarget) {
          const copy = Buffer.from(data);
          copy[this.flipAt - start] ^= 0x01;
          this.flipAt = null;
          upstream.write(copy);
          return;
        }
        upstream.write(data);
      });
      let queued: Buffer[] = [];
      let answered = 0;
      const resume = () => {
        for (const data of queued) {
          this.bytesFromTarget += data.length;
          client.write(data);
        }
        queued = [];
        upstream.resume();
      };
      upstream.on('data', (received: Buffer) => {
        if (this.blackhole) return;
        let data = received;
        const flip = this.flipEach === null ? -1 : this.flipEach - answered;
        answered += data.length;
        if (flip >= 0 && flip < data.length) {
          data = Buffer.from(data);
          data[flip] ^= 0x01;
        }
        if (this.cutAt !== null && this.bytesFromTarget + data.length >= this.cutAt) {
          const keep = this.cutAt - this.bytesFromTarget;
          this.cutAt = null;
          this.bytesFromTarget += keep;
          upstream.pause();
          client.write(data.subarray(0, keep), () => close());
          return;
        }
        const room = this.holdAt === null ? data.length : Math.max(0, this.holdAt - this.bytesFromTarget);
        if (room < data.length) {
          queued.push(data.subarray(room));
          upstream.pause();
          this.held.add(resume);
        }
        if (room > 0) {
          this.bytesFromTarget += Math.min(room, data.length);
          client.write(data.subarray(0, room));
        }
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', close);
      upstream.on('close', close);
      client.on('error', close);
      upstream.on('error', close);
    });
    return new Promise((resolve) => {
      this.server?.listen(port, '127.0.0.1', () => {
        const address = this.server?.address();
        this.listeningOn = typeof address === 'object' && address ? address.port : 0;
        resolve(this.listeningOn);
      });
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Keeps the last `limit` characters of what a program printed, however much it prints. */
export class OutputTail {
  private text = '';

  constructor(private readonly limit: number) {}

  push(chunk: string): void {
    this.text += chunk;
    // Trim only once it is well past the limit, so a chatty program costs no copy per chunk.
    if (this.text.length > 2 * this.limit) this.text = this.text.slice(-this.limit);
  }

  toString(): string {
    return this.text.slice(-this.limit);
  }
}

import { sleep } from '../common/index.js';
import { OutpostError } from '../errors/index.js';

/** Transfers in flight in this process, each with the abort signal tied to its job row. */
export class TransferRegistry {
  private readonly running = new Map<
    string,
    { controller: AbortController; done: () => void; finished: Promise<void> }
  >();

  start(id: string): AbortController {
    const controller = new AbortController();
    let done = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.running.set(id, { controller, done, finished });
    return controller;
  }

  finish(id: string): void {
    this.running.get(id)?.done();
    this.running.delete(id);
  }

  abort(id: string, reason: string): void {
    this.running.get(id)?.controller.abort(new OutpostError('OUTPOST_UNREACHABLE', `job ${id} ${reason}`));
  }

  abortAll(reason: string): void {
    for (const id of this.running.keys()) this.abort(id, reason);
  }

  /** Aborts the transfers of these jobs and waits (at most `timeoutMs`) until they have stopped. */
  async abortJobs(ids: readonly string[], reason: string, timeoutMs = 1000): Promise<void> {
    const stopping = ids.flatMap((id) => {
      const t = this.running.get(id);
      if (!t) return [];
      this.abort(id, reason);
      return [t.finished];
    });
    await Promise.race([Promise.all(stopping), sleep(timeoutMs)]);
  }
}

/** A function that runs what it is given once a slot is free. */
export type Limiter = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * Runs at most `slots` pieces of work at once; the rest wait their turn in order. Used to bound
 * open files, which a burst of small chunks would otherwise exhaust (EMFILE).
 */
export function limitConcurrency(slots: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (active < slots) active++;
    // A finishing piece of work hands its slot straight to the next in line.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

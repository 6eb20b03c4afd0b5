import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from './api';

/** How often the console asks again: the pages follow the hierarchy live without a reload. */
export const POLL_MS = 2_000;

export interface Polled<T> {
  data: T | undefined;
  error: string | null;
  /** Asks again now (after an action), without waiting for the next tick. */
  refresh: () => void;
}

/**
 * `load` now and every POLL_MS while the page shows it; a new `key` (the page's parameters) starts
 * over. One request at a time: a slow server is not asked again before it answered.
 */
export function usePoll<T>(load: () => Promise<T>, key: string): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const refresh = useCallback(() => setTick((t) => t + 1), []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` and `tick` are what start a new round
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const round = async () => {
      try {
        const value = await loadRef.current();
        if (stopped) return;
        setData(value);
        setError(null);
      } catch (err) {
        if (stopped) return;
        setError(reasonOf(err));
      }
      if (!stopped) timer = setTimeout(round, POLL_MS);
    };
    void round();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [key, tick]);
  return { data, error, refresh };
}

/** The one-line reason of a failure, as the API gave it. */
export function reasonOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** Runs an action, keeping its error (one line) and whether it runs, for a button and its message. */
export function useAction(): {
  busy: boolean;
  error: string | null;
  run: <T>(action: () => Promise<T>) => Promise<T | undefined>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async <T>(action: () => Promise<T>) => {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (err) {
      setError(reasonOf(err));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run };
}

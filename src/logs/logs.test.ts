import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { createLoggers, formatLogLine, type LogCursor, readLog, rotateFile } from './index.js';

/** The `n` of each line read, in order. */
function numbers(lines: string[]): number[] {
  return lines.map((l) => (JSON.parse(l) as { n: number }).n);
}

describe('readable log lines', () => {
  it('time, level name, component, message, then the other fields (not the empty ones) as key=value', () => {
    const line = JSON.stringify({
      level: 30,
      time: Date.UTC(2026, 10, 23, 9, 5, 7, 42),
      pid: 1234,
      hostname: 'h',
      site: 'C01',
      component: 'sender',
      job: '274f5a34-aaaa',
      peer: 'S02',
      bytes: 25165824,
      done: true,
      error: null,
      msg: 'job completed: 24.0 MiB in 1.2s at 20.0 MiB/s',
    });
    expect(formatLogLine(line)).toBe(
      '2026-11-23 09:05:07.042Z info  sender    job completed: 24.0 MiB in 1.2s at 20.0 MiB/s ' +
        'job=274f5a34-aaaa peer=S02 bytes=25165824 done=true',
    );
  });

  it('quotes values with spaces, shows an error by its message and keeps one entry on one line', () => {
    const line = JSON.stringify({
      level: 50,
      time: 0,
      component: 'api',
      msg: 'request failed:\nsecond line',
      err: { type: 'Error', message: 'disk "full"', stack: 'Error: disk full\n    at x' },
      path: '/api/v1/sites',
      dps: ['S02', 'S03'],
    });
    expect(formatLogLine(line)).toBe(
      '1970-01-01 00:00:00.000Z error api       request failed:\\nsecond line ' +
        'err="disk \\"full\\"" path=/api/v1/sites dps=["S02","S03"]',
    );
  });

  it('a line that is not a JSON object is shown as it is', () => {
    expect(formatLogLine('not json {')).toBe('not json {');
    expect(formatLogLine('42')).toBe('42');
  });
});

describe('log rotation', () => {
  it('rotates by size into component.log.1..keep, newest first, and drops the oldest', () => {
    const dir = tempDir('log-rotate');
    const { log } = createLoggers(dir, 'C01', { maxBytes: 2000, keep: 2 });
    for (let n = 0; n < 100; n++) log('sender').info({ n, pad: 'x'.repeat(100) }, 'line');
    expect(readdirSync(dir).sort()).toEqual(['sender.log', 'sender.log.1', 'sender.log.2']);
    const files = ['sender.log.2', 'sender.log.1', 'sender.log'].map((f) => join(dir, f));
    for (const f of files) expect(statSync(f).size).toBeLessThanOrEqual(2000);
    // Together, oldest first, the kept files are the newest lines in order, none lost between them.
    const kept = numbers(files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean)));
    expect(kept.at(-1)).toBe(99);
    expect(kept).toEqual(kept.map((_, i) => 100 - kept.length + i));
    // Each line says which site wrote it and which component.
    expect(JSON.parse(readFileSync(files[2], 'utf8').split('\n')[0])).toMatchObject({
      site: 'C01',
      component: 'sender',
    });
  });

  it('a restarted server rotates a log already over the limit before writing to it', () => {
    const dir = tempDir('log-rotate-restart');
    writeFileSync(join(dir, 'dp.log'), `${'x'.repeat(3000)}\n`);
    const { log } = createLoggers(dir, 'S02', { maxBytes: 2000, keep: 3 });
    log('dp').info('after restart');
    expect(readFileSync(join(dir, 'dp.log.1'), 'utf8')).toBe(`${'x'.repeat(3000)}\n`);
    expect(readFileSync(join(dir, 'dp.log'), 'utf8')).toContain('after restart');
  });

  it('rotateFile shifts each file up one and removes those past keep', () => {
    const dir = tempDir('log-shift');
    const file = join(dir, 'a.log');
    for (const [name, text] of [
      ['a.log', 'now'],
      ['a.log.1', 'one'],
      ['a.log.2', 'two'],
      ['a.log.7', 'stale'],
    ])
      writeFileSync(join(dir, name), text);
    rotateFile(file, 3);
    expect(readdirSync(dir).sort()).toEqual(['a.log.1', 'a.log.2', 'a.log.3']);
    expect(['a.log.1', 'a.log.2', 'a.log.3'].map((f) => readFileSync(join(dir, f), 'utf8'))).toEqual([
      'now',
      'one',
      'two',
    ]);
  });
});

describe('reading a rotated log', () => {
  it('the tail spans the rotated files, and a follower misses no line and repeats none across rotations', async () => {
    const dir = tempDir('log-read');
    const { log } = createLoggers(dir, 'C01', { maxBytes: 1500, keep: 5 });
    const write = (from: number, to: number) => {
      for (let n = from; n < to; n++) log('distmgr').info({ n }, `line ${n}`);
    };
    write(0, 10);
    const first = await readLog(dir, 'distmgr', undefined);
    expect(numbers(first.lines)).toEqual([...Array(10).keys()]);

    // Several rotations between two reads: the follower resumes in the file it was in, now renamed.
    write(10, 40);
    expect(readdirSync(dir).filter((f) => f.startsWith('distmgr.log.')).length).toBeGreaterThan(1);
    const cursor: LogCursor = { offset: first.next, file: first.file };
    const second = await readLog(dir, 'distmgr', cursor);
    expect(numbers(second.lines)).toEqual([...Array(30).keys()].map((i) => i + 10));
    const third = await readLog(dir, 'distmgr', { offset: second.next, file: second.file });
    expect(third.lines).toEqual([]);

    // Just after a rotation the current file is nearly empty; the tail still shows the lines before.
    const tail = await readLog(dir, 'distmgr', undefined, 600);
    const shown = numbers(tail.lines);
    expect(shown.at(-1)).toBe(39);
    expect(shown.length).toBeGreaterThan(3);
    expect(shown).toEqual(shown.map((_, i) => 40 - shown.length + i));
  });

  it('a follower whose file was rotated out goes on from the oldest kept', async () => {
    const dir = tempDir('log-read-lost');
    const { log } = createLoggers(dir, 'C01', { maxBytes: 600, keep: 1 });
    for (let n = 0; n < 3; n++) log('dp').info({ n }, 'line');
    const first = await readLog(dir, 'dp', undefined);
    for (let n = 3; n < 40; n++) log('dp').info({ n }, 'line');
    const next = await readLog(dir, 'dp', { offset: first.next, file: first.file });
    const kept = [
      ...readFileSync(join(dir, 'dp.log.1'), 'utf8').split('\n'),
      ...readFileSync(join(dir, 'dp.log'), 'utf8').split('\n'),
    ].filter(Boolean);
    expect(next.lines).toEqual(kept);
    expect(numbers(next.lines).at(-1)).toBe(39);
  });
});

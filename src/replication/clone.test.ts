import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type CloneFixture, cloneFixture } from '../../test/clone-fixture.js';
import { tempDir } from '../../test/tempdirs.js';
import { cloneDp } from './clone.js';

describe('dp clone', () => {
  let f: CloneFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  const onDp = async (dp: string) =>
    (await f?.ctx.db.selectFrom('assignments').select('package_id').where('dp', '=', dp).execute())?.length;

  it('copies every assignment of one DP to another, Install Pending, and says what it added', async () => {
    f = await cloneFixture(tempDir('clone-unit'), 1200);
    await f.ctx.db
      .insertInto('assignments')
      .values({ package_id: 'C0100000', dp: 'S02/lab', site_code: 'S02', created_at: 0 })
      .execute();
    const dry = await cloneDp(f.ctx, { from: 'S02', to: 'S02/lab', dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, already: ['C0100000'], bytesMissing: 1199 * 1024 });
    expect(dry.added).toHaveLength(1199);
    expect(await onDp('S02/lab')).toBe(1);

    const done = await cloneDp(f.ctx, { from: 'S02', to: 'S02/lab' });
    expect(done.added).toEqual(dry.added);
    expect(await onDp('S02/lab')).toBe(1200);
    const pending = await f.ctx.db
      .selectFrom('package_status')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('dp', '=', 'S02/lab')
      .where('state', '=', 'Install Pending')
      .executeTakeFirstOrThrow();
    expect(Number(pending.n)).toBe(1199);
    // Again: nothing left to add.
    expect((await cloneDp(f.ctx, { from: 'S02', to: 'S02/lab' })).added).toEqual([]);
  });

  it('is one transaction: a failure in a later batch leaves no assignment behind', async () => {
    f = await cloneFixture(tempDir('clone-unit'), 1200);
    // The status row of the last package fails, after the assignments and earlier batches were written.
    await sql`CREATE TRIGGER refuse_last BEFORE INSERT ON package_status WHEN NEW.package_id = 'C01004AF'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`.execute(f.ctx.db);
    await expect(cloneDp(f.ctx, { from: 'S02', to: 'S02/lab' })).rejects.toThrow('refused by the test');
    expect(await onDp('S02/lab')).toBe(0);
    const statuses = await f.ctx.db.selectFrom('package_status').select('dp').execute();
    expect(statuses).toEqual([]);
  });

  it('refuses an unknown named DP, a bad name and a clone onto itself, changing nothing', async () => {
    f = await cloneFixture(tempDir('clone-unit'), 3);
    await expect(cloneDp(f.ctx, { from: 'S02', to: 'S02/nope' })).rejects.toThrow(
      'DP S02/nope is not known at C01',
    );
    await expect(cloneDp(f.ctx, { from: 'S02', to: 'S02/bad name' })).rejects.toThrow(
      "DP 'S02/bad name' is not valid",
    );
    await expect(cloneDp(f.ctx, { from: 'S02', to: 'S02' })).rejects.toThrow('to itself');
    await expect(cloneDp(f.ctx, { from: 'S02', to: 'S09' })).rejects.toThrow('site S09 is not known');
    expect(await onDp('S02/lab')).toBe(0);
  });
});

-- Source totals: the report's "sources" read totals, not activities (issue 16).
--
-- The report lists, for its window (12 weeks), every stored copy by where it came from
-- (coalesce(provider, source): a provider, 'manual' or 'file') with count, distance and moving
-- time. It read the window's activities: 1,141 for the heaviest athlete at 10M activities,
-- against one or two for the median athlete (7.8 times the time).
--
-- public.source_totals keeps, per athlete, scope, local day and local ISO week, and source, the
-- count and sums of the live (not deleted) activities, every copy counted (duplicates too, as
-- the report counts them). Scope "shareable" (shareable_only true) holds what a coach may read
-- row by row in public.activities (not private, not Strava-sourced, primary not hidden). The
-- report reads the window's whole weeks from the week rows and its partial weeks from the day
-- rows (functions_py/trainlytics/db/report_queries.py): at most ~12 days and ~12 weeks of
-- rows per source, whatever the number of activities.
--
-- Maintenance: the rollups' statement-level trigger on activities
-- (private.rollups_apply_activity_changes) applies the signed versions a statement wrote to
-- source_totals too, in one upsert; public.rebuild_rollups rebuilds it.

create table public.source_totals (
    user_id uuid not null references public.users (id) on delete cascade,
    shareable_only boolean not null,
    period text not null,
    period_start date not null,
    source text not null,
    activity_count integer not null,
    distance numeric not null,
    moving_time bigint not null,
    constraint source_totals_pkey primary key (
        user_id, shareable_only, period, period_start, source
    ),
    constraint source_totals_period check (period in ('day', 'week')),
    constraint source_totals_week_is_monday check (
        period = 'day' or extract(isodow from period_start) = 1
    )
);

alter table public.source_totals set (fillfactor = 75);

comment on table public.source_totals is
    'Per athlete, scope, local day and local ISO week, and source (provider, or manual or file): '
    'how many live activities (every copy, duplicates included) and their distance and moving '
    'time. The report''s sources of a window read it (whole weeks from week rows, the rest from '
    'day rows). Maintained by the rollups'' triggers on activities; rebuilt by '
    'public.rebuild_rollups. RLS: the athlete and admins read every row, a coach with an active '
    'grant only the shareable_only rows.';

comment on column public.source_totals.shareable_only is
    'False: every live activity. True: only those a coach may read (not private, not '
    'Strava-sourced, whose primary copy is not hidden).';

comment on column public.source_totals.period is 'day or week (local calendar).';

comment on column public.source_totals.period_start is 'The local day, or the Monday of the week.';

comment on column public.source_totals.source is
    'coalesce(provider, source) of the activities: a provider name, manual or file.';

comment on column public.source_totals.activity_count is 'Live activities (every copy).';

comment on column public.source_totals.distance is 'Summed distance in m (unknown counts 0).';

comment on column public.source_totals.moving_time is 'Summed moving time in s.';

alter table public.source_totals enable row level security;

revoke all on table public.source_totals from anon, authenticated, service_role;

grant select on table public.source_totals to authenticated, service_role;

create policy source_totals_select on public.source_totals
for select to authenticated
using (
    user_id = (select auth.uid())
    or (
        array[user_id] && array_remove(
            array(select private.readable_user_ids()), (select auth.uid())
        )
        and (shareable_only or (select private.is_admin()))
    )
);

comment on policy source_totals_select on public.source_totals is
    'An athlete reads their own source totals; a coach with an active grant reads the '
    'athlete''s shareable_only rows (what the coach reads row by row in activities); an admin '
    'reads all.';

-- Maintenance ------------------------------------------------------------------------------------

create function private.source_totals_versions_sql(p_rows text)
returns text
language sql
immutable
parallel safe
as $$
    select format(
        'select t.id, t.user_id, t.start_date_local, '
        'coalesce(t.provider::text, t.source::text) as source, '
        '(not t.is_private and t.provider is distinct from ''strava'' '
        'and not t.primary_hidden) as shareable, t.distance, t.moving_time '
        'from %1$s as t where t.deleted_at is null',
        p_rows
    );
$$;

comment on function private.source_totals_versions_sql(text) is
    'Builds the query of the activity versions of the relation p_rows (a transition table) '
    'that count in source_totals (every live copy), with the columns source_totals reads.';

revoke all on function private.source_totals_versions_sql(text) from public, anon, authenticated;

create function private.source_totals_delta_sql(p_changes text)
returns text
language sql
immutable
parallel safe
as $$
    select format(
        $sql$
        with changes as (%1$s),
        deltas as (
            select
                c.user_id,
                s.shareable_only,
                p.period,
                p.period_start,
                c.source,
                sum(c.sign)::integer as activity_count,
                sum(c.sign * coalesce(c.distance::numeric, 0)) as distance,
                sum(c.sign * coalesce(c.moving_time, 0))::bigint as moving_time
            from changes as c
            -- An athlete being deleted has no totals left to adjust (they cascade away).
            inner join public.users as u on c.user_id = u.id
            cross join lateral (
                values
                ('day', c.start_date_local::date),
                ('week', date_trunc('week', c.start_date_local)::date)
            ) as p (period, period_start)
            cross join (values (false), (true)) as s (shareable_only)
            where c.shareable or not s.shareable_only
            group by 1, 2, 3, 4, 5
        ),
        upserted as (
            insert into public.source_totals as t (
                user_id, shareable_only, period, period_start, source, activity_count,
                distance, moving_time
            )
            select
                d.user_id, d.shareable_only, d.period, d.period_start, d.source,
                d.activity_count, d.distance, d.moving_time
            from deltas as d
            where d.activity_count <> 0 or d.distance <> 0 or d.moving_time <> 0
            -- A fixed order of row locks: concurrent writers of one athlete cannot deadlock.
            order by 1, 2, 3, 4, 5
            on conflict (user_id, shareable_only, period, period_start, source) do update set
                activity_count = t.activity_count + excluded.activity_count,
                distance = t.distance + excluded.distance,
                moving_time = t.moving_time + excluded.moving_time
            returning t.ctid, t.activity_count
        )
        select array(select x.ctid from upserted as x where x.activity_count = 0)
        $sql$,
        p_changes
    );
$$;

comment on function private.source_totals_delta_sql(text) is
    'Builds the statement that adds signed activity versions (the query p_changes: a sign '
    'column and the columns of private.source_totals_versions_sql) to source_totals in one '
    'upsert (day and week, scope all and scope shareable), and returns the ctids of the rows '
    'it left with no activity (to delete). Used by the rollups'' trigger.';

revoke all on function private.source_totals_delta_sql(text) from public, anon, authenticated;

create or replace function private.rollups_apply_activity_changes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    changes text;
    sources text;
    weekly_empty tid[];
    daily_empty tid[];
    sources_empty tid[];
begin
    if tg_op = 'INSERT' then
        perform from new_rows limit 1;
        if not found then
            return null;
        end if;
        changes := format(
            'select 1 as sign, v.* from (%s) as v', private.rollups_versions_sql('new_rows')
        );
        sources := format(
            'select 1 as sign, v.* from (%s) as v',
            private.source_totals_versions_sql('new_rows')
        );
    elsif tg_op = 'DELETE' then
        perform from old_rows limit 1;
        if not found then
            return null;
        end if;
        changes := format(
            'select -1 as sign, v.* from (%s) as v', private.rollups_versions_sql('old_rows')
        );
        sources := format(
            'select -1 as sign, v.* from (%s) as v',
            private.source_totals_versions_sql('old_rows')
        );
    else
        perform from new_rows limit 1;
        if not found then
            return null;
        end if;
        -- Only versions that changed: a new version equal to its old one (a re-ingested,
        -- renamed or touched activity) is in neither difference.
        changes := format(
            'select 1 as sign, v.* from (%1$s except all %2$s) as v '
            'union all select -1 as sign, v.* from (%2$s except all %1$s) as v',
            private.rollups_versions_sql('new_rows'),
            private.rollups_versions_sql('old_rows')
        );
        sources := format(
            'select 1 as sign, v.* from (%1$s except all %2$s) as v '
            'union all select -1 as sign, v.* from (%2$s except all %1$s) as v',
            private.source_totals_versions_sql('new_rows'),
            private.source_totals_versions_sql('old_rows')
        );
    end if;
    execute private.rollups_delta_sql(changes) into weekly_empty, daily_empty;
    execute private.source_totals_delta_sql(sources) into sources_empty;
    -- The upserts hold these rows' locks until commit: nobody moved them since.
    if cardinality(weekly_empty) > 0 then
        -- Empty means every sum back to zero as well (numeric: exact). A row whose count
        -- reached 0 while a sum did not is mid-statement: a nested statement (the duplicate
        -- grouping's update, fired before this insert's own delta) subtracted a version that
        -- the outer statement has yet to add; deleting it would lose the other activities.
        delete from public.weekly_rollups as r
        where
            r.ctid = any(weekly_empty)
            and r.activity_count = 0
            and r.distance = 0
            and r.moving_time = 0
            and r.elapsed_time = 0
            and r.elevation_gain = 0
            and r.calories = 0
            and r.load = 0;
    end if;
    if cardinality(daily_empty) > 0 then
        delete from public.daily_loads as d
        where d.ctid = any(daily_empty) and d.activity_count = 0 and d.load = 0;
    end if;
    if cardinality(sources_empty) > 0 then
        delete from public.source_totals as t
        where
            t.ctid = any(sources_empty)
            and t.activity_count = 0
            and t.distance = 0
            and t.moving_time = 0;
    end if;
    return null;
end;
$$;

comment on function private.rollups_apply_activity_changes() is
    'Statement-level AFTER trigger on activities (insert, update, delete; transition tables '
    'old_rows/new_rows): adds the new versions that count and subtracts the old versions that '
    'counted (primary, not deleted), only for rows whose rollup inputs changed, and likewise '
    'every live copy to source_totals; then drops rows left with no activity and every sum '
    'zero (a nested statement may subtract before its outer statement adds). Security '
    'definer: whoever writes activities (an athlete''s manual entry, a worker) has no right to '
    'write the rollups.';

-- Rebuild ---------------------------------------------------------------------------------------

create function private.source_totals_recompute(p_user_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    if p_user_ids is null then
        truncate public.source_totals;
    else
        delete from public.source_totals as t where t.user_id = any(p_user_ids);
    end if;
    insert into public.source_totals (
        user_id, shareable_only, period, period_start, source, activity_count, distance,
        moving_time
    )
    select
        a.user_id,
        s.shareable_only,
        p.period,
        p.period_start,
        coalesce(a.provider::text, a.source::text) as source,
        count(*)::integer as activity_count,
        sum(coalesce(a.distance::numeric, 0)) as distance,
        sum(coalesce(a.moving_time, 0))::bigint as moving_time
    from public.activities as a
    cross join lateral (
        values
        ('day', a.start_date_local::date),
        ('week', date_trunc('week', a.start_date_local)::date)
    ) as p (period, period_start)
    cross join (values (false), (true)) as s (shareable_only)
    where
        a.deleted_at is null
        and (p_user_ids is null or a.user_id = any(p_user_ids))
        and (
            not s.shareable_only
            or (not a.is_private and a.provider is distinct from 'strava' and not a.primary_hidden)
        )
    group by 1, 2, 3, 4, 5;
end;
$$;

comment on function private.source_totals_recompute(uuid[]) is
    'Recomputes source_totals from activities for the given athletes (null: everyone, after '
    'emptying the table). Called by public.rebuild_rollups. Security definer: nobody writes '
    'source_totals but its maintenance.';

revoke all on function private.source_totals_recompute(uuid[]) from public, anon, authenticated;

grant execute on function private.source_totals_recompute(uuid[]) to service_role;

create or replace function public.rebuild_rollups(p_user_id uuid default null)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    -- Writers of activities wait until the rebuild commits: their triggers' deltas must not
    -- land between the recomputation's snapshot and its writes.
    lock table public.activities in share mode;
    perform private.rollups_recompute(
        case when p_user_id is not null then array[p_user_id] end
    );
    perform private.source_totals_recompute(
        case when p_user_id is not null then array[p_user_id] end
    );
end;
$$;

comment on function public.rebuild_rollups(uuid) is
    'Rebuilds weekly_rollups, daily_loads (volume_totals follow them) and source_totals from '
    'activities: one athlete, or everyone when p_user_id is null (after a bulk load with '
    'triggers disabled, or to check the incremental maintenance). Holds a SHARE lock on '
    'activities until commit, so concurrent writes wait instead of slipping between the '
    'recomputation and its writes. Service role only.';

-- The totals of the activities already there.
select private.source_totals_recompute(null);

-- Coaches learn nothing of activities hidden from them (issue 14, finding 10).
--
-- A coach read every non-private, non-Strava activity of an athlete who granted access, and
-- every workout. Three leaks followed:
-- - a visible copy of a workout named its primary in primary_activity_id even when that
--   primary was hidden (private or Strava-sourced): the id, and the fact that a hidden copy
--   exists, reached the coach;
-- - hiding the primary copy of a workout (is_private) left the other copies of the same
--   workout visible: the athlete hid the workout and the coach still saw it;
-- - workouts.completed_activity_id of a workout fulfilled by a hidden activity named it.
-- Now:
-- - the primary decides for its group: when the primary of a duplicate group is hidden from
--   coaches, every copy is hidden from them too (activities.primary_hidden, kept by a trigger
--   whenever a row's primary, privacy or provider changes); a visible copy therefore always
--   points to a visible primary. A hidden copy (say the Strava copy of a Garmin workout) does
--   not hide a visible primary: the workout is shareable through it, and the rollups coaches
--   read count primaries only, so totals and rows agree;
-- - a coach reads a workout only while its completed_activity_id is null or names an activity
--   the coach may read: a workout fulfilled by a hidden activity is hidden from the coach with
--   it (the athlete still sees both). The coach's compliance views therefore count only what
--   the coach may read.
-- Activities imported from a file (source 'file': a Strava bulk export included) are the
-- athlete's own file, not data obtained through Strava's API, which is what Strava's API
-- agreement governs; they are shown to coaches like any other imported file (the athlete can
-- mark them private).

alter table public.activities
add column primary_hidden boolean not null default false;

comment on column public.activities.primary_hidden is
    'True when this row is a copy (primary_activity_id set) whose primary is hidden from '
    'coaches (private or Strava-sourced): the copy is hidden from coaches too. Maintained by a '
    'trigger on activities.';

create function private.activities_maintain_primary_hidden()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        -- Rows inserted already pointing to a primary (rare: the grouping sets it by update).
        if not exists (select from new_rows as n where n.primary_activity_id is not null) then
            return null;
        end if;
        update public.activities as a
        set primary_hidden = coalesce(p.is_private or p.provider = 'strava', false)
        from new_rows as n
        inner join public.activities as p on n.primary_activity_id = p.id
        where
            a.id = n.id
            and a.primary_hidden
            is distinct from coalesce(p.is_private or p.provider = 'strava', false);
        return null;
    end if;
    -- Nothing that decides visibility changed (e.g. this trigger's own update): stop here,
    -- before issuing an update (statement triggers fire even for zero rows).
    if not exists (
        select from new_rows as n
        inner join old_rows as o on n.id = o.id
        where
            (n.is_private, n.provider, n.primary_activity_id)
            is distinct from (o.is_private, o.provider, o.primary_activity_id)
    ) then
        return null;
    end if;
    with changed as (
        select n.id, n.primary_activity_id
        from new_rows as n
        inner join old_rows as o on n.id = o.id
        where
            (n.is_private, n.provider, n.primary_activity_id)
            is distinct from (o.is_private, o.provider, o.primary_activity_id)
    ),

    -- The rows whose primary changed, and the copies of rows whose own visibility changed.
    targets as (
        select c.id from changed as c
        union
        select m.id
        from changed as c
        cross join lateral (
            select rm.id from public.activities as rm
            where rm.primary_activity_id = c.id
            offset 0
        ) as m
    ),

    computed as (
        select
            t.id,
            coalesce(p.is_private or p.provider = 'strava', false) as hidden
        from targets as t
        inner join public.activities as a on t.id = a.id
        left join public.activities as p on a.primary_activity_id = p.id
    )

    update public.activities as a
    set primary_hidden = c.hidden
    from computed as c
    where a.id = c.id and a.primary_hidden is distinct from c.hidden;
    return null;
end;
$$;
comment on function private.activities_maintain_primary_hidden() is
    'Statement-level AFTER INSERT and UPDATE trigger on activities: keeps primary_hidden equal '
    'to whether the row''s primary is hidden from coaches (private or Strava-sourced), for rows '
    'whose primary changed and for the copies of rows whose privacy or provider changed. '
    'Security definer: fired by an athlete hiding an activity, it updates the copies, whose '
    'grouping columns the athlete may not write.';
revoke all on function private.activities_maintain_primary_hidden()
from public, anon, authenticated;

create trigger activities_primary_hidden_insert
after insert on public.activities
referencing new table as new_rows
for each statement execute function private.activities_maintain_primary_hidden();

create trigger activities_primary_hidden_update
after update on public.activities
referencing old table as old_rows new table as new_rows
for each statement execute function private.activities_maintain_primary_hidden();

-- The copies of the hidden primaries stored before this migration.
update public.activities as c
set primary_hidden = true
from public.activities as p
where
    c.primary_activity_id = p.id
    and (p.is_private or p.provider = 'strava')
    and not c.primary_hidden;

drop policy activities_select on public.activities;
create policy activities_select on public.activities
for select to authenticated
using (
    user_id = any(array(select private.readable_user_ids()))
    and deleted_at is null
    and (
        user_id = (select auth.uid())
        or (select private.is_admin())
        or (not is_private and provider is distinct from 'strava' and not primary_hidden)
    )
);
comment on policy activities_select on public.activities is
    'An athlete reads their own activities; a coach with an active grant reads the athlete''s '
    'non-private activities that are not Strava-sourced (Strava API agreement) and whose '
    'primary copy is not hidden either (primary_hidden); an admin reads all. Soft-deleted rows '
    'are hidden.';

drop policy workouts_select on public.workouts;
create policy workouts_select on public.workouts
for select to authenticated
using (
    user_id = any(array(select private.readable_user_ids()))
    and (
        user_id = (select auth.uid())
        or completed_activity_id is null
        or (select private.is_admin())
        -- runs under the caller's RLS on activities: true only for an activity they may read
        or exists (
            select from public.activities as a
            where a.id = workouts.completed_activity_id
        )
    )
);
comment on policy workouts_select on public.workouts is
    'An athlete reads their workouts; a coach with an active grant reads the athlete''s, except '
    'those fulfilled by an activity hidden from the coach (private, Strava-sourced, or a copy of '
    'a hidden primary), whose id would reveal it; an admin reads all.';

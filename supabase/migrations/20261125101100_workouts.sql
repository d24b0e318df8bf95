-- workouts: planned training, beside the completed activities. A coach with an active grant
-- plans for the athlete; the athlete plans for themselves. A workout links to the activity that
-- fulfilled it.

create table public.workouts (
    id bigint generated always as identity primary key,
    user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
    coach_id uuid references public.users (id) on delete set null,
    planned_date date not null,
    activity_type public.activity_type not null,
    name text not null,
    description text,
    planned_duration integer,
    planned_distance double precision,
    planned_load real,
    structure jsonb not null default '{}'::jsonb,
    completed_activity_id bigint references public.activities (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint workouts_duration_positive check (planned_duration > 0),
    constraint workouts_distance_positive check (planned_distance > 0),
    constraint workouts_load_nonnegative check (planned_load >= 0),
    constraint workouts_structure_is_object check (jsonb_typeof(structure) = 'object'),
    constraint workouts_name_length check (char_length(name) between 1 and 500)
);

alter table public.workouts
add constraint workouts_planned_distance_finite check (
    planned_distance > '-Infinity' and planned_distance < 'Infinity'
),
add constraint workouts_planned_load_finite check (
    planned_load > '-Infinity' and planned_load < 'Infinity'
),
add constraint workouts_structure_size check (pg_column_size(structure) <= 262144);

create index workouts_user_id_planned_date_idx on public.workouts (user_id, planned_date);

create index workouts_coach_id_idx on public.workouts (coach_id);

create index workouts_completed_activity_id_idx on public.workouts (completed_activity_id);

comment on table public.workouts is
    'A planned training session of an athlete, authored by the athlete or their coach, linked '
    'to the activity that completed it once done.';

comment on column public.workouts.user_id is 'The athlete the workout is planned for.';

comment on column public.workouts.coach_id is
    'The coach who authored it; null when the athlete planned it.';

comment on column public.workouts.planned_date is 'Planned day, in the athlete''s local calendar.';

comment on column public.workouts.planned_duration is 'Planned duration in s.';

comment on column public.workouts.planned_distance is 'Planned distance in m.';

comment on column public.workouts.planned_load is
    'Planned training load in training stress score units (100 = one hour at threshold).';

comment on column public.workouts.structure is
    'Steps of the session as JSON, e.g. {"steps": [{"duration": 600, "target": ...}]}.';

comment on column public.workouts.completed_activity_id is
    'The activity that fulfilled the workout (same athlete); null until done.';

create trigger workouts_set_updated_at
before update on public.workouts
for each row execute function private.set_updated_at();

-- The completing activity must be the same athlete's and visible to whoever links it: the
-- check runs as the caller, so a coach can link only activities the coach may read, and cannot
-- probe for private or Strava-sourced activity ids.
create function private.check_workout_activity()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.completed_activity_id is not null and not exists (
        select 1 from public.activities as a
        where a.id = new.completed_activity_id and a.user_id = new.user_id
    ) then
        raise exception 'activity % does not belong to the workout''s athlete',
            new.completed_activity_id
            using errcode = '23503';
    end if;
    return new;
end;
$$;

comment on function private.check_workout_activity() is
    'Trigger on workouts: the completing activity belongs to the same athlete and is visible '
    'to the caller. Security invoker, so RLS on activities applies to the check.';

revoke all on function private.check_workout_activity() from public, anon, authenticated;

create trigger workouts_check_activity
before insert or update of completed_activity_id, user_id on public.workouts
for each row execute function private.check_workout_activity();

alter table public.workouts enable row level security;

revoke all on table public.workouts from anon, authenticated;

grant select, delete on table public.workouts to authenticated;

grant insert (
    user_id, coach_id, planned_date, activity_type, name, description, planned_duration,
    planned_distance, planned_load, structure, completed_activity_id
) on table public.workouts to authenticated;

grant update (
    planned_date, activity_type, name, description, planned_duration, planned_distance,
    planned_load, structure, completed_activity_id
) on table public.workouts to authenticated;

grant all on table public.workouts to service_role;

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

create policy workouts_insert on public.workouts
for insert to authenticated
with check (
    (user_id = (select auth.uid()) and coach_id is null)
    or (
        coach_id = (select auth.uid())
        and user_id = any(array(select private.coached_athlete_ids()))
    )
);

comment on policy workouts_insert on public.workouts is
    'An athlete plans for themselves (no coach_id); a coach plans for an athlete who granted '
    'active access, signing as coach_id.';

create policy workouts_update on public.workouts
for update to authenticated
using (
    user_id = (select auth.uid())
    or user_id = any(array(select private.coached_athlete_ids()))
)
with check (
    user_id = (select auth.uid())
    or user_id = any(array(select private.coached_athlete_ids()))
);

comment on policy workouts_update on public.workouts is
    'The athlete and their active coaches edit the athlete''s workouts.';

create policy workouts_delete on public.workouts
for delete to authenticated
using (user_id = (select auth.uid()));

comment on policy workouts_delete on public.workouts is 'Only the athlete deletes a workout.';

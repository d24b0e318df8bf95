-- Activity ingest: raw provider payloads in, normalised activities out, in one set-based
-- statement per page.
--
-- Python hands a page of raw provider payloads (exactly as the provider sent them) to
-- public.ingest_activities. The page goes through private.normalize_page, which calls the
-- provider's own normaliser private.normalize_<provider>(jsonb) - registered in
-- private.providers by the provider's migration - in one dynamic statement per page, then
-- private.check_normalized; a malformed item comes back with its error, is skipped and reported,
-- and never aborts its page (should a statement raise anyway, the page is redone item by item,
-- each in a subtransaction). Within the page's statement the helpers are SQL the planner can
-- inline: no helper pays a function call with a search_path switch per item. The page is then
-- upserted on (connection_id, external_id) with a newer-wins guard on provider_updated_at, the
-- raw payloads are kept in activity_raw_payloads, and deleted ids are soft deleted. When a
-- mapping improves, public.renormalize_activities re-normalises the stored raw payloads in place.

-- The normalised shape -------------------------------------------------------------------------

create type private.normalized_activity as (
    external_id text,
    name text,
    description text,
    activity_type public.activity_type,
    provider_activity_type text,
    start_date timestamptz,
    timezone text,
    utc_offset integer,
    elapsed_time integer,
    moving_time integer,
    distance double precision,
    average_speed double precision,
    max_speed double precision,
    average_heartrate real,
    max_heartrate real,
    average_watts real,
    max_watts real,
    weighted_average_watts real,
    average_cadence real,
    max_cadence real,
    elevation_gain real,
    elevation_loss real,
    calories real,
    is_manual boolean,
    is_private boolean,
    device_name text,
    activity_data jsonb,
    provider_updated_at timestamptz,
    error text
);

comment on type private.normalized_activity is
    'One provider payload normalised to the columns of public.activities (same names, SI units '
    'as their comments say), as returned by private.normalize_<provider>(jsonb) and '
    'private.normalize_activity. provider_updated_at is the provider''s own modification time '
    'when the payload has one (else null: the ingest uses the page''s received time). error is '
    'null for a good item, else why it is malformed (the item is then skipped and reported).';

comment on column private.normalized_activity.external_id is
    'The provider''s activity id as text (activities.external_id); required.';

comment on column private.normalized_activity.activity_type is
    'Canonical sport from private.map_activity_type; null means other.';

comment on column private.normalized_activity.provider_activity_type is
    'The provider''s own sport value, verbatim.';

comment on column private.normalized_activity.start_date is 'Start instant (UTC); required.';

comment on column private.normalized_activity.timezone is 'IANA time zone, when known.';

comment on column private.normalized_activity.utc_offset is
    'Offset of local time from UTC at the start, in s (east positive); null means 0.';

comment on column private.normalized_activity.elapsed_time is 'Total duration in s.';

comment on column private.normalized_activity.moving_time is 'Duration in motion in s.';

comment on column private.normalized_activity.distance is 'Distance in m.';

comment on column private.normalized_activity.average_speed is 'Average speed in m/s.';

comment on column private.normalized_activity.max_speed is 'Maximum speed in m/s.';

comment on column private.normalized_activity.average_heartrate is 'Average heart rate in bpm.';

comment on column private.normalized_activity.max_heartrate is 'Maximum heart rate in bpm.';

comment on column private.normalized_activity.average_watts is 'Average power in W.';

comment on column private.normalized_activity.max_watts is 'Maximum power in W.';

comment on column private.normalized_activity.weighted_average_watts is
    'Weighted (normalised) average power in W.';

comment on column private.normalized_activity.max_cadence is 'Maximum cadence per minute.';

comment on column private.normalized_activity.elevation_gain is 'Total ascent in m.';

comment on column private.normalized_activity.elevation_loss is 'Total descent in m.';

comment on column private.normalized_activity.calories is 'Energy in kcal.';

comment on column private.normalized_activity.is_manual is
    'Entered by hand at the provider; null means false.';

comment on column private.normalized_activity.is_private is
    'Private at the provider; null means false.';

comment on column private.normalized_activity.device_name is 'Recording device.';

comment on column private.normalized_activity.activity_data is
    'Provider-specific extras kept in the hot table (JSON object; anything else becomes {}).';

comment on column private.normalized_activity.provider_updated_at is
    'The provider''s own last-modified time of the activity, when the payload carries one.';

comment on column private.normalized_activity.error is
    'Why the item is malformed (skipped and reported), null when fine.';

-- Sport vocabulary ------------------------------------------------------------------------------

create table public.activity_type_mappings (
    provider public.provider_type not null,
    provider_value text not null,
    activity_type public.activity_type not null,
    primary key (provider, provider_value),
    constraint activity_type_mappings_value_not_blank check (btrim(provider_value) <> '')
);

-- The lookup is case-insensitive: at most one row per provider and value in any case, so the
-- normalisers can join the table.
create unique index activity_type_mappings_lower_value_idx
on public.activity_type_mappings (provider, lower(provider_value));

comment on table public.activity_type_mappings is
    'Reference data: each provider''s sport value (Strava sport_type, Garmin activityType, '
    'COROS mode*10+subMode, ...) mapped to the canonical activity_type. Each provider''s '
    'normalisation migration inserts its vocabulary. Changing a row and calling '
    'public.renormalize_activities re-maps stored activities.';

comment on column public.activity_type_mappings.provider_value is
    'The provider''s value as it sends it; matched case-insensitively (an exact match first).';

comment on column public.activity_type_mappings.activity_type is
    'The canonical sport it means (type activity_type).';

alter table public.activity_type_mappings enable row level security;

revoke all on table public.activity_type_mappings from anon, authenticated;

grant select on table public.activity_type_mappings to authenticated;

grant all on table public.activity_type_mappings to service_role;

create policy activity_type_mappings_select on public.activity_type_mappings
for select to authenticated
using (true);

comment on policy activity_type_mappings_select on public.activity_type_mappings is
    'Reference data: every signed-in user reads the sport mappings (no personal data).';

create function private.map_activity_type(p_provider public.provider_type, p_value text)
returns public.activity_type
language sql
stable
parallel safe
-- A SQL-standard body (names bound at creation, no SET clause): called once per activity, it
-- is inlined into the normaliser's expression instead of paying a function call with a
-- search_path switch each time.
begin atomic
    select coalesce(
        (
            select m.activity_type
            from public.activity_type_mappings as m
            -- p_provider and p_value are the parameters, not columns.
            where
                m.provider = p_provider  -- noqa: RF03
                and lower(m.provider_value) = lower(btrim(p_value))  -- noqa: RF03
            order by (m.provider_value = btrim(p_value)) desc, m.provider_value  -- noqa: RF03
            limit 1
        ),
        'other'::public.activity_type
    );
end;

comment on function private.map_activity_type(public.provider_type, text) is
    'The canonical activity_type of a provider''s sport value (trimmed, case-insensitive, an '
    'exact match preferred); other when no mapping knows it or the value is null.';

-- Privileges: worker functions run as service_role only ---------------------------------------

revoke all on function private.map_activity_type(public.provider_type, text)
from public, anon, authenticated;

grant execute on function private.map_activity_type(public.provider_type, text) to service_role;

-- Safe casts: never raise, null when the text is not a usable value ---------------------------

create function private.try_float(p_text text)
returns double precision
language sql
immutable
parallel safe
-- A SQL body with schema-qualified names (no search_path needed) and no SET clause, so the
-- planner inlines it into the calling query (a SET clause would prevent that). `$$`-quoted, not
-- `begin atomic`: the Supabase CLI 2.x splitter breaks those that hold `case ... end` (#3474).
as $$
    select case
        -- Unbounded repetitions keep the regex cheap; the length check bounds the text.
        when length(p_text) <= 400
            and p_text ~ '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9][0-9]?[0-9]?)?\s*$'
            and abs(btrim(p_text)::numeric) < 1e300
            then case
                when abs(btrim(p_text)::numeric) < 1e-300 then 0.0::double precision
                else btrim(p_text)::numeric::double precision
            end
    end;
$$;

comment on function private.try_float(text) is
    'The number in a text (JSON numbers and decimal strings such as Wahoo''s "12.5" or '
    '"1.2e3"); null for anything else, NaN, Infinity or magnitudes beyond 1e300. Never raises.';

revoke all on function private.try_float(text) from public, anon, authenticated;

grant execute on function private.try_float(text) to service_role;

create function private.try_int(p_text text)
returns integer
language sql
immutable
parallel safe
as $$
    select case
        when abs(private.try_float(p_text)) < 2147483647.5
            then round(private.try_float(p_text))::integer
    end;
$$;

comment on function private.try_int(text) is
    'The integer in a text, rounding decimals ("3600.0" gives 3600); null when not a number or '
    'outside the integer range. Never raises.';

revoke all on function private.try_int(text) from public, anon, authenticated;

grant execute on function private.try_int(text) to service_role;

-- ISO 8601 instants without exceptions: one regular expression splits the text, integer range
-- checks reject impossible fields (month 13, February 30, year 0000), and make_timestamp builds
-- the value. No exception block (a subtransaction per call) and no SET clause, so the parsing
-- can be inlined into the normalisers' queries.

create function private.iso8601_parts(p_text text)
returns text[]
language sql
immutable
parallel safe
as $$
    -- 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 seconds (with fraction), 7 the zone as
    -- written (Z or an offset), 8 the offset's sign, 9 its hours, 10 its minutes.
    -- The usual shapes are recognised by their digit pattern and cut at fixed positions (a
    -- regular expression costs ~10 times more); anything else goes through the expression.
    select case translate(p_text, '0123456789', '9999999999')
        when '9999-99-99T99:99:99Z' then array[
            substr(p_text, 1, 4), substr(p_text, 6, 2), substr(p_text, 9, 2),
            substr(p_text, 12, 2), substr(p_text, 15, 2), substr(p_text, 18, 2), 'Z',
            null, null, null
        ]
        when '9999-99-99T99:99:99' then array[
            substr(p_text, 1, 4), substr(p_text, 6, 2), substr(p_text, 9, 2),
            substr(p_text, 12, 2), substr(p_text, 15, 2), substr(p_text, 18, 2), null,
            null, null, null
        ]
        when '9999-99-99T99:99:99.999Z' then array[
            substr(p_text, 1, 4), substr(p_text, 6, 2), substr(p_text, 9, 2),
            substr(p_text, 12, 2), substr(p_text, 15, 2), substr(p_text, 18, 6), 'Z',
            null, null, null
        ]
        when '9999-99-99T99:99:99.999' then array[
            substr(p_text, 1, 4), substr(p_text, 6, 2), substr(p_text, 9, 2),
            substr(p_text, 12, 2), substr(p_text, 15, 2), substr(p_text, 18, 6), null,
            null, null, null
        ]
        else regexp_match(
            p_text,
            '^\s*([0-9]{4})-([0-9]{2})-([0-9]{2})'
            '(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}(?:\.[0-9]{1,9})?))?)?'
            '\s*(Z|z|([-+])([0-9]{2})(?::?([0-9]{2}))?)?\s*$'
        )
    end;
$$;

comment on function private.iso8601_parts(text) is
    'The fields of an ISO 8601 date or date-time text (year, month, day, '
    ' hour, minute, seconds, zone, offset sign, offset hours, offset minutes), null when '
    'the text does not have that form. Input of private.timestamp_of_parts and '
    'private.timestamptz_of_parts.';

revoke all on function private.iso8601_parts(text) from public, anon, authenticated;

grant execute on function private.iso8601_parts(text) to service_role;

create function private.timestamp_of_parts(p_parts text[])
returns timestamp
language sql
immutable
parallel safe
as $$
    select case
        when p_parts[1]::integer >= 1
            and p_parts[2]::integer between 1 and 12
            and p_parts[3]::integer between 1 and case
                when p_parts[2]::integer = 2
                    then 28 + case
                        when (p_parts[1]::integer % 4 = 0 and p_parts[1]::integer % 100 <> 0)
                            or p_parts[1]::integer % 400 = 0 then 1
                        else 0
                    end
                else 30 + (p_parts[2]::integer + p_parts[2]::integer / 8) % 2
            end
            and coalesce(p_parts[4]::integer <= 23 and p_parts[5]::integer <= 59, true)
            and coalesce(p_parts[6]::numeric <= 60, true)
            then make_timestamp(
                p_parts[1]::integer,
                p_parts[2]::integer,
                p_parts[3]::integer,
                coalesce(p_parts[4]::integer, 0),
                coalesce(p_parts[5]::integer, 0),
                coalesce(p_parts[6]::double precision, 0)
            )
    end;
$$;

comment on function private.timestamp_of_parts(text[]) is
    'The wall-clock time of private.iso8601_parts output, ignoring any zone; null when a field '
    'is out of range (month 13, February 30, hour 24, year 0000) or the parts are null. Never '
    'raises; inlined into its callers.';

revoke all on function private.timestamp_of_parts(text[]) from public, anon, authenticated;

grant execute on function private.timestamp_of_parts(text[]) to service_role;

create function private.timestamptz_of_parts(p_parts text[])
returns timestamptz
language sql
immutable
parallel safe
as $$
    select case
        -- An offset needs a time of day, and PostgreSQL's range (at most 15:59).
        when p_parts[4] is null or p_parts[8] is null
            or (p_parts[9]::integer <= 15 and coalesce(p_parts[10]::integer <= 59, true))
            then (
                private.timestamp_of_parts(p_parts)
                - case
                    when p_parts[4] is not null and p_parts[8] is not null
                        then make_interval(
                            hours => p_parts[9]::integer,
                            mins => coalesce(p_parts[10]::integer, 0)
                        ) * (p_parts[8] || '1')::integer
                    else interval '0'
                end
            ) at time zone 'UTC'
    end;
$$;

comment on function private.timestamptz_of_parts(text[]) is
    'The instant of private.iso8601_parts output: the wall clock minus the offset (Z or none: '
    'UTC; a date alone: midnight UTC); null when a field is out of range. Never raises; '
    'inlined into its callers.';

revoke all on function private.timestamptz_of_parts(text[]) from public, anon, authenticated;

grant execute on function private.timestamptz_of_parts(text[]) to service_role;

create function private.timestamp_of_fixed(p_text text)
returns timestamp
language sql
immutable
parallel safe
as $$
    -- For a text whose first 19 characters have the digit shape 9999-99-99T99:99:99 (the
    -- caller checks it): fixed positions, integer range checks, no regular expression.
    select case
        when substr(p_text, 1, 4)::integer >= 1
            and substr(p_text, 6, 2)::integer between 1 and 12
            and substr(p_text, 9, 2)::integer between 1 and case
                when substr(p_text, 6, 2)::integer = 2
                    then 28 + case
                        when (
                            substr(p_text, 1, 4)::integer % 4 = 0
                            and substr(p_text, 1, 4)::integer % 100 <> 0
                        )
                        or substr(p_text, 1, 4)::integer % 400 = 0 then 1
                        else 0
                    end
                else 30 + (substr(p_text, 6, 2)::integer + substr(p_text, 6, 2)::integer / 8) % 2
            end
            and substr(p_text, 12, 2)::integer <= 23
            and substr(p_text, 15, 2)::integer <= 59
            and substr(p_text, 18, 2)::integer <= 60
            then make_timestamp(
                substr(p_text, 1, 4)::integer,
                substr(p_text, 6, 2)::integer,
                substr(p_text, 9, 2)::integer,
                substr(p_text, 12, 2)::integer,
                substr(p_text, 15, 2)::integer,
                substr(p_text, 18, 2)::double precision
            )
    end;
$$;

comment on function private.timestamp_of_fixed(text) is
    'The wall-clock time of a text starting with the digit shape 9999-99-99T99:99:99 (callers '
    'check the shape first: the fast path of the usual provider timestamps); null when a field '
    'is out of range (month 13, February 30, hour 24, year 0000). Never raises on such a text; '
    'inlined into its callers.';

revoke all on function private.timestamp_of_fixed(text) from public, anon, authenticated;

grant execute on function private.timestamp_of_fixed(text) to service_role;

create function private.try_timestamptz(p_text text)
returns timestamptz
language sql
immutable
parallel safe
begin atomic
    -- The subquery parses the text once (an inlined body would repeat the regex per field).
    select private.timestamptz_of_parts(parsed.parts)
    from (select private.iso8601_parts(p_text) as parts) as parsed;
end;

comment on function private.try_timestamptz(text) is
    'The instant of an ISO 8601 text ("2026-11-25T08:00:00Z", "2026-11-25T09:00:00+01:00"); a '
    'text without an offset is read as UTC (the session time zone never matters). Null for '
    'anything else, including impossible dates. Never raises.';

revoke all on function private.try_timestamptz(text) from public, anon, authenticated;

grant execute on function private.try_timestamptz(text) to service_role;

create function private.try_timestamp(p_text text)
returns timestamp
language sql
immutable
parallel safe
as $$
    select case when parsed.parts[7] is null then private.timestamp_of_parts(parsed.parts) end
    from (select private.iso8601_parts(p_text) as parts) as parsed;
$$;

comment on function private.try_timestamp(text) is
    'The wall-clock time of an ISO 8601 text without an offset (Polar start_time, the part of '
    'Strava start_date_local before its false Z); null for anything else. Never raises.';

revoke all on function private.try_timestamp(text) from public, anon, authenticated;

grant execute on function private.try_timestamp(text) to service_role;

create function private.try_epoch_seconds(p_text text)
returns timestamptz
language sql
immutable
parallel safe
as $$
    select case
        when abs(private.try_float(p_text)) < 1e11 then to_timestamp(private.try_float(p_text))
    end;
$$;

comment on function private.try_epoch_seconds(text) is
    'The instant of a Unix time in seconds (Garmin startTimeInSeconds); null when not a number '
    'or beyond year 5138. Never raises.';

revoke all on function private.try_epoch_seconds(text) from public, anon, authenticated;

grant execute on function private.try_epoch_seconds(text) to service_role;

create function private.iso8601_duration_seconds(p_text text)
returns double precision
language sql
immutable
parallel safe
as $$
    select case
        when parsed.m is not null
            and (
                parsed.m[1] is not null or parsed.m[2] is not null
                or parsed.m[3] is not null or parsed.m[4] is not null
            )
            then (
                coalesce(parsed.m[1]::numeric, 0) * 86400
                + coalesce(parsed.m[2]::numeric, 0) * 3600
                + coalesce(parsed.m[3]::numeric, 0) * 60
                + coalesce(parsed.m[4]::numeric, 0)
            )::double precision
    end
    from (
        select regexp_match(
            btrim(p_text),
            '^P(?:([0-9]{1,9}(?:\.[0-9]{1,9})?)D)?'
            '(?:T(?:([0-9]{1,9}(?:\.[0-9]{1,9})?)H)?(?:([0-9]{1,9}(?:\.[0-9]{1,9})?)M)?'
            '(?:([0-9]{1,9}(?:\.[0-9]{1,9})?)S)?)?$'
        ) as m
    ) as parsed;
$$;

comment on function private.iso8601_duration_seconds(text) is
    'Seconds of an ISO 8601 duration of days, hours, minutes and seconds (Polar "PT2H44M", '
    '"PT1.5S", "P1DT2H"); null for anything else. Never raises.';

revoke all on function private.iso8601_duration_seconds(text) from public, anon, authenticated;

grant execute on function private.iso8601_duration_seconds(text) to service_role;

-- Dispatch to the provider normalisers through the registry (private.providers) --------------

create function private.check_normalized(p_payload jsonb, p_row private.normalized_activity)
returns setof private.normalized_activity
language sql
immutable
parallel safe
-- A SQL body without SET: the planner inlines it into private.normalize_page's query.
as $$
    -- The columns of private.normalized_activity, in order (p_payload is a parameter, r the
    -- normaliser's row).
    select  -- noqa: ST06
        nullif(btrim(r.external_id), '') as external_id,
        left(r.name, 500) as name,
        left(r.description, 20000) as description,
        coalesce(r.activity_type, 'other') as activity_type,
        r.provider_activity_type,
        case
            when r.start_date > '-infinity' and r.start_date < 'infinity' then r.start_date
        end as start_date,
        nullif(btrim(r.timezone), '') as timezone,
        case
            when r.utc_offset between -64800 and 64800 then r.utc_offset else 0
        end as utc_offset,
        case when r.elapsed_time >= 0 then r.elapsed_time end as elapsed_time,
        case when r.moving_time >= 0 then r.moving_time end as moving_time,
        case when r.distance >= 0 and r.distance < 'infinity' then r.distance end as distance,
        case
            when r.average_speed >= 0 and r.average_speed < 'infinity' then r.average_speed
        end as average_speed,
        case
            when r.max_speed >= 0 and r.max_speed < 'infinity' then r.max_speed
        end as max_speed,
        case
            when r.average_heartrate between 0 and 300 then r.average_heartrate
        end as average_heartrate,
        case when r.max_heartrate between 0 and 300 then r.max_heartrate end as max_heartrate,
        case
            when r.average_watts >= 0 and r.average_watts < 'infinity' then r.average_watts
        end as average_watts,
        case
            when r.max_watts >= 0 and r.max_watts < 'infinity' then r.max_watts
        end as max_watts,
        case
            when r.weighted_average_watts >= 0 and r.weighted_average_watts < 'infinity'
                then r.weighted_average_watts
        end as weighted_average_watts,
        case
            when r.average_cadence >= 0 and r.average_cadence < 'infinity' then r.average_cadence
        end as average_cadence,
        case
            when r.max_cadence >= 0 and r.max_cadence < 'infinity' then r.max_cadence
        end as max_cadence,
        case
            when r.elevation_gain >= 0 and r.elevation_gain < 'infinity' then r.elevation_gain
        end as elevation_gain,
        case
            when r.elevation_loss >= 0 and r.elevation_loss < 'infinity' then r.elevation_loss
        end as elevation_loss,
        case when r.calories >= 0 and r.calories < 'infinity' then r.calories end as calories,
        coalesce(r.is_manual, false) as is_manual,
        coalesce(r.is_private, false) as is_private,
        r.device_name,
        case
            when jsonb_typeof(r.activity_data) = 'object' then r.activity_data else '{}'
        end as activity_data,
        case
            when r.provider_updated_at > '-infinity' and r.provider_updated_at < 'infinity'
                then r.provider_updated_at
        end as provider_updated_at,
        case
            when r.error is not null then r.error
            when coalesce(jsonb_typeof(p_payload), '') <> 'object'  -- noqa: RF03
                then 'item is not a JSON object'
            when nullif(btrim(r.external_id), '') is null then 'no activity id'
            when not (r.start_date > '-infinity' and r.start_date < 'infinity')
                or r.start_date is null then 'no valid start time'
        end as error
    from (select (p_row).*) as r;  -- noqa: RF03
$$;

comment on function private.check_normalized(jsonb, private.normalized_activity) is
    'The checks common to every provider, applied to a normaliser''s row: identity '
    '(external_id, start_date: error when missing or when the item is not a JSON object); '
    'metrics the activities table cannot hold (negative, infinite, heart rate over 300, offset '
    'beyond 18 h) become unknown rather than losing the activity; name and description are '
    'trimmed to their limits.';

revoke all on function private.check_normalized(jsonb, private.normalized_activity)
from public, anon, authenticated;

grant execute on function private.check_normalized(jsonb, private.normalized_activity)
to service_role;

create function private.register_provider(
    p_provider public.provider_type,
    p_normaliser regprocedure,
    p_deletes_data_on_disconnect boolean default false
)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_page text := format('private.%I', 'normalize_page_' || p_provider::text);
begin
    -- The provider's page function: a static statement over its normaliser, so that its plan
    -- (the inlined SQL normaliser is costly to plan) is made once per session.
    execute format(
        $ddl$
        create function %1$s(p_items jsonb)
        returns table (pos integer, payload jsonb, normalized private.normalized_activity)
        language plpgsql
        stable
        set search_path = ''
        set plan_cache_mode = force_generic_plan
        as $body$
        #variable_conflict use_column
        begin
            return query
                select (i.ord - 1)::integer, i.payload, x.c
                from jsonb_array_elements(coalesce(p_items, '[]'::jsonb))
                    with ordinality as i (payload, ord)
                left join lateral (
                    select c
                    from %2$s(i.payload) as r
                    cross join lateral private.check_normalized(i.payload, r) as c
                ) as x on true;
        end;
        $body$
        $ddl$,
        v_page,
        p_normaliser::regproc
    );
    execute format(
        'comment on function %s(jsonb) is %L',
        v_page,
        format(
            'Generated by private.register_provider: each item of a %s page with its position '
            'and its %s row after private.check_normalized (null when none). Service role only.',
            p_provider,
            p_normaliser
        )
    );
    execute format('revoke all on function %s(jsonb) from public, anon, authenticated', v_page);
    execute format('grant execute on function %s(jsonb) to service_role', v_page);
    insert into private.providers (
        provider, normaliser, page_normaliser, deletes_data_on_disconnect
    )
    values (
        p_provider,
        p_normaliser,
        (v_page || '(jsonb)')::regprocedure,
        p_deletes_data_on_disconnect
    );
end;
$$;

comment on function private.register_provider(public.provider_type, regprocedure, boolean) is
    'Registers a provider (its migration calls it once): its private.providers row, and its '
    'page function private.normalize_page_<provider>(jsonb), generated over its normaliser '
    '(a function (jsonb) returning setof private.normalized_activity). Migrations only.';

revoke all on function private.register_provider(public.provider_type, regprocedure, boolean)
from public, anon, authenticated, service_role;

create function private.normalize_page(p_provider public.provider_type, p_items jsonb)
returns table (pos integer, payload jsonb, normalized private.normalized_activity)
language plpgsql
stable
set search_path = ''
as $$
declare
    v_page regprocedure;
begin
    select p.page_normaliser into v_page
    from private.providers as p
    where p.provider = p_provider;
    if v_page is null then
        -- No registered provider: every item is reported ('normaliser returned nothing').
        return query
            select (i.ord - 1)::integer, i.payload, null::private.normalized_activity
            from jsonb_array_elements(coalesce(p_items, '[]'::jsonb))
                with ordinality as i (payload, ord);
        return;
    end if;
    -- A call of the provider's page function: nothing to inline, so nothing costly to plan.
    return query execute format('select * from %s($1)', v_page::regproc) using p_items;
end;
$$;

comment on function private.normalize_page(public.provider_type, jsonb) is
    'Each item of a page (a JSON array of provider payloads) with its 0-based position and its '
    'normalised row (null when the normaliser returned none, or when the provider is not '
    'registered): a call of the provider''s page function from private.providers (generated by '
    'private.register_provider, its plan made once per session). Service role only.';

revoke all on function private.normalize_page(public.provider_type, jsonb)
from public, anon, authenticated;

grant execute on function private.normalize_page(public.provider_type, jsonb) to service_role;

create function private.normalize_activity(p_provider public.provider_type, p_payload jsonb)
returns setof private.normalized_activity
language sql
stable
set search_path = ''
as $$
    -- A real row is never all null (activity_type and is_manual are never null).
    select (x.normalized).*
    from private.normalize_page(p_provider, jsonb_build_array(p_payload)) as x
    where not x.normalized is null;
$$;

comment on function private.normalize_activity(public.provider_type, jsonb) is
    'Normalises one raw payload of a provider (private.normalize_page over a one-item page) and '
    'returns one row, or none when the provider''s normaliser returned none. Normalisers never '
    'raise; should one do so anyway, public.ingest_activities isolates the item and reports '
    'it. activity_data may carry _keep_stored, the columns the payload''s shape does not carry '
    '(the ingest keeps their stored values and strips the key).';

revoke all on function private.normalize_activity(public.provider_type, jsonb)
from public, anon, authenticated;

grant execute on function private.normalize_activity(public.provider_type, jsonb)
to service_role;

create function private.ingest_page(
    p_connection_id bigint,
    p_user_id uuid,
    p_provider public.provider_type,
    p_items jsonb,
    p_received_at timestamptz,
    p_first_index integer
)
returns table (created integer, updated integer, skipped integer, errors jsonb)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    n_created integer;
    n_updated integer;
    n_skipped integer;
    v_errors jsonb;
begin
    with normalized as materialized (
        select  -- noqa: ST06
            x.pos + p_first_index as idx,
            -- The item's position in p_items: the raw payload is read back from there.
            x.pos,
            x.payload,
            n.external_id,
            n.name,
            n.description,
            n.activity_type,
            n.provider_activity_type,
            n.start_date,
            n.timezone,
            n.utc_offset,
            n.elapsed_time,
            n.moving_time,
            n.distance,
            n.average_speed,
            n.max_speed,
            n.average_heartrate,
            n.max_heartrate,
            n.average_watts,
            n.max_watts,
            n.weighted_average_watts,
            n.average_cadence,
            n.max_cadence,
            n.elevation_gain,
            n.elevation_loss,
            n.calories,
            n.is_manual,
            n.is_private,
            n.device_name,
            n.activity_data - '_keep_stored' as activity_data,
            n.activity_data -> '_keep_stored' as keep_stored,
            coalesce(n.provider_updated_at, p_received_at) as effective_updated_at,
            -- No row at all (a normaliser returning nothing) is an error too.
            case
                when n.external_id is null then coalesce(n.error, 'normaliser returned nothing')
                else n.error
            end as error
        -- Normalised in a function of its own: this statement's plan no longer contains the
        -- inlined normalisers, whose planning was most of its planning time.
        from private.normalize_page(p_provider, p_items) as x
        cross join lateral (select (x.normalized).*) as n  -- noqa: AM04
    ),

    -- One item per external id: the newest (then the last) of a page wins.
    candidates as (
        select v.*
        from (
            select
                n.*,
                row_number() over (
                    partition by n.external_id
                    order by n.effective_updated_at desc, n.idx desc
                ) as rank_in_page
            from normalized as n
            where n.error is null
        ) as v
        where v.rank_in_page = 1
    ),

    -- The stored row, and the candidate with the stored values of the columns its payload's
    -- shape does not carry (a Strava list item has no description, calories or device).
    merged as (
        select
            c.idx,
            c.pos,
            c.payload,
            c.keep_stored,
            c.effective_updated_at,
            a.id as stored_id,
            a.provider_updated_at as stored_updated_at,
            a.deleted_at as stored_deleted_at,
            c.external_id,
            -- The athlete's own edits win over the provider's values.
            case when 'name' = any(a.user_edited_fields) then a.name else c.name end as name,
            case
                when 'description' = any(a.user_edited_fields) then a.description
                when c.description is null and c.keep_stored ? 'description' then a.description
                else c.description
            end as description,
            c.activity_type,
            c.provider_activity_type,
            c.start_date,
            z.timezone,
            z.utc_offset,
            c.elapsed_time,
            c.moving_time,
            c.distance,
            c.average_speed,
            c.max_speed,
            c.average_heartrate,
            c.max_heartrate,
            c.average_watts,
            c.max_watts,
            c.weighted_average_watts,
            c.average_cadence,
            c.max_cadence,
            c.elevation_gain,
            c.elevation_loss,
            case
                when c.calories is null and c.keep_stored ? 'calories' then a.calories
                else c.calories
            end as calories,
            c.is_manual,
            case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else c.is_private
            end as is_private,
            case
                when c.device_name is null and c.keep_stored ? 'device_name' then a.device_name
                else c.device_name
            end as device_name,
            z.activity_data,
            (
                case when 'name' = any(a.user_edited_fields) then a.name else c.name end,
                c.activity_type, c.provider_activity_type, c.start_date, z.timezone,
                z.utc_offset, c.elapsed_time, c.moving_time, c.distance, c.average_speed,
                c.max_speed, c.average_heartrate, c.max_heartrate, c.average_watts,
                c.max_watts, c.weighted_average_watts, c.average_cadence, c.max_cadence,
                c.elevation_gain, c.elevation_loss, c.is_manual,
                case
                    when 'is_private' = any(a.user_edited_fields) then a.is_private
                    else c.is_private
                end
            ) is distinct from (
                a.name, a.activity_type, a.provider_activity_type, a.start_date, a.timezone,
                a.utc_offset, a.elapsed_time, a.moving_time, a.distance, a.average_speed,
                a.max_speed, a.average_heartrate, a.max_heartrate, a.average_watts,
                a.max_watts, a.weighted_average_watts, a.average_cadence, a.max_cadence,
                a.elevation_gain, a.elevation_loss, a.is_manual, a.is_private
            ) as plain_columns_differ,
            a.description as stored_description,
            a.calories as stored_calories,
            a.device_name as stored_device_name,
            a.activity_data as stored_activity_data
        from candidates as c
        left join public.activities as a
            on a.connection_id = p_connection_id and a.external_id = c.external_id
        -- A zone derived for the stored row (public.set_activity_timezones) is kept while the
        -- source gives none, with its offset while the source gives none either, and so is
        -- its timezone_source: a replayed payload compares equal to the stored row.
        cross join lateral (
            select
                coalesce(c.timezone, a.timezone) as timezone,
                case
                    when k.derived and coalesce(c.utc_offset, 0) = 0 then
                        case
                            when c.start_date = a.start_date then a.utc_offset
                            else coalesce(
                                private.zone_utc_offset(a.timezone, c.start_date), a.utc_offset
                            )
                        end
                    else c.utc_offset
                end as utc_offset,
                case
                    when k.derived
                        then k.activity_data
                        || jsonb_build_object('timezone_source', a.activity_data -> 'timezone_source')
                    -- (a stored one merged into a partial payload's data is not the source's)
                    when k.activity_data ? 'timezone_source'
                        then k.activity_data - 'timezone_source'
                    else k.activity_data
                end as activity_data
            from (
                select
                    (
                        c.timezone is null
                        and a.timezone is not null
                        and coalesce(a.activity_data ? 'timezone_source', false)
                    ) as derived,
                    case
                        when c.keep_stored is not null and a.activity_data is not null
                            then a.activity_data || c.activity_data
                        else c.activity_data
                    end as activity_data
            ) as k
        ) as z
    ),

    -- What each candidate will do, against the stored row (the upsert re-checks the guard).
    planned as (
        select
            m.*,
            case
                when m.stored_id is null then 'create'
                when m.effective_updated_at < m.stored_updated_at then 'older'
                when m.stored_deleted_at is not null
                    and (
                        m.effective_updated_at <= m.stored_deleted_at
                        or m.effective_updated_at <= m.stored_updated_at
                    ) then 'deleted'
                when m.stored_deleted_at is not null
                    or m.plain_columns_differ
                    or (m.description, m.calories, m.device_name, m.activity_data)
                    is distinct from (
                        m.stored_description, m.stored_calories, m.stored_device_name,
                        m.stored_activity_data
                    ) then 'update'
                -- Same content, newer time: record the time (so an older update stays
                -- older) and the payload, but count it as skipped.
                when m.effective_updated_at > m.stored_updated_at then 'touch'
                else 'unchanged'
            end as action
        from merged as m
    ),

    written as (
        insert into public.activities as a (
            user_id, connection_id, provider, source, external_id, name, description,
            activity_type, provider_activity_type, start_date, timezone, utc_offset,
            elapsed_time, moving_time, distance, average_speed, max_speed, average_heartrate,
            max_heartrate, average_watts, max_watts, weighted_average_watts, average_cadence,
            max_cadence, elevation_gain, elevation_loss, calories, is_manual, is_private,
            device_name, activity_data, provider_updated_at
        )
        select
            p_user_id, p_connection_id, p_provider, 'provider', p.external_id, p.name,
            p.description, p.activity_type, p.provider_activity_type, p.start_date, p.timezone,
            p.utc_offset, p.elapsed_time, p.moving_time, p.distance, p.average_speed,
            p.max_speed, p.average_heartrate, p.max_heartrate, p.average_watts, p.max_watts,
            p.weighted_average_watts, p.average_cadence, p.max_cadence, p.elevation_gain,
            p.elevation_loss, p.calories, p.is_manual, p.is_private, p.device_name,
            p.activity_data, p.effective_updated_at
        from planned as p
        where p.action in ('create', 'update', 'touch')
        on conflict (connection_id, external_id) do update set
            -- Re-checked here: the athlete may have edited since the plan read the row.
            name = case when 'name' = any(a.user_edited_fields) then a.name else excluded.name end,
            description = case
                when 'description' = any(a.user_edited_fields) then a.description
                else excluded.description
            end,
            activity_type = excluded.activity_type,
            provider_activity_type = excluded.provider_activity_type,
            start_date = excluded.start_date,
            -- Re-checked too: a zone may have been derived since the plan read the row.
            timezone = coalesce(excluded.timezone, a.timezone),
            utc_offset = case
                when
                    excluded.timezone is null
                    and a.timezone is not null
                    and a.activity_data ? 'timezone_source'
                    and coalesce(excluded.utc_offset, 0) = 0
                    then case
                        when excluded.start_date = a.start_date then a.utc_offset
                        else coalesce(
                            private.zone_utc_offset(a.timezone, excluded.start_date), a.utc_offset
                        )
                    end
                else excluded.utc_offset
            end,
            elapsed_time = excluded.elapsed_time,
            moving_time = excluded.moving_time,
            distance = excluded.distance,
            average_speed = excluded.average_speed,
            max_speed = excluded.max_speed,
            average_heartrate = excluded.average_heartrate,
            max_heartrate = excluded.max_heartrate,
            average_watts = excluded.average_watts,
            max_watts = excluded.max_watts,
            weighted_average_watts = excluded.weighted_average_watts,
            average_cadence = excluded.average_cadence,
            max_cadence = excluded.max_cadence,
            elevation_gain = excluded.elevation_gain,
            elevation_loss = excluded.elevation_loss,
            calories = excluded.calories,
            is_manual = excluded.is_manual,
            is_private = case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else excluded.is_private
            end,
            device_name = excluded.device_name,
            activity_data = case
                when
                    excluded.timezone is null
                    and a.timezone is not null
                    and a.activity_data ? 'timezone_source'
                    then excluded.activity_data
                    || jsonb_build_object('timezone_source', a.activity_data -> 'timezone_source')
                else excluded.activity_data
            end,
            provider_updated_at = excluded.provider_updated_at,
            deleted_at = null
        -- Newer wins, and a deleted activity comes back only with a strictly newer version.
        where
            excluded.provider_updated_at >= coalesce(a.provider_updated_at, '-infinity')
            and (
                a.deleted_at is null
                or (
                    excluded.provider_updated_at > a.deleted_at
                    and excluded.provider_updated_at > coalesce(a.provider_updated_at, '-infinity')
                )
            )
        returning a.id, a.external_id, (a.xmax = 0) as inserted
    ),

    -- Each written item's position in p_items (and what the count needs) by external id: one
    -- lookup per written row instead of a join between two CTEs the planner cannot estimate.
    -- Positions, not payloads: an object of 200 small numbers is built in a fraction of the
    -- time an object of 200 payloads takes, and p_items -> position reads the payload back.
    by_id as materialized (
        select
            jsonb_object_agg(p.external_id, p.pos) as positions,
            coalesce(
                jsonb_object_agg(p.external_id, true) filter (where p.keep_stored is not null),
                '{}'
            ) as partial,
            coalesce(
                jsonb_object_agg(p.external_id, true) filter (where p.action = 'touch'),
                '{}'
            ) as touched
        from planned as p
        where p.action in ('create', 'update', 'touch')
    ),

    raw_kept as (
        insert into public.activity_raw_payloads as r (activity_id, user_id, payload, received_at)
        select
            w.id,
            p_user_id,
            -- A payload of a partial shape adds to the stored one (a list item over the
            -- detailed object keeps the detail's description, calories and laps).
            case
                when not w.inserted and b.partial ? w.external_id
                    then coalesce(
                        (
                            select s.payload from public.activity_raw_payloads as s
                            where s.activity_id = w.id
                        ),
                        '{}'
                    ) || (p_items -> (b.positions ->> w.external_id)::integer)
                else p_items -> (b.positions ->> w.external_id)::integer
            end,
            p_received_at
        from written as w
        cross join by_id as b
        on conflict (activity_id) do update set
            payload = excluded.payload,
            received_at = excluded.received_at
        returning r.activity_id
    )

    select
        (select count(*) from written as w where w.inserted)::integer,
        (
            select count(*)
            from written as w
            cross join by_id as b
            where not w.inserted and not b.touched ? w.external_id
        )::integer,
        (select count(*) from normalized as n where n.error is null)::integer,
        (
            select coalesce(
                jsonb_agg(
                    jsonb_build_object(
                        'index', n.idx, 'external_id', n.external_id, 'reason', n.error
                    )
                    order by n.idx
                ),
                '[]'::jsonb
            )
            from normalized as n
            where n.error is not null
        )
    into n_created, n_updated, n_skipped, v_errors;

    return query select n_created, n_updated, n_skipped - n_created - n_updated, v_errors;
end;
$$;

comment on function private.ingest_page(
    bigint, uuid, public.provider_type, jsonb, timestamptz, integer
) is
    'The set-based statement of public.ingest_activities for a page (or, when the page''s '
    'statement raised, for one item): normalise, upsert with the newer-wins guard, keep the raw '
    'payloads. Items are numbered from p_first_index in errors. Returns created, updated, '
    'skipped and the malformed items. Service role only.';

revoke all on function private.ingest_page(
    bigint, uuid, public.provider_type, jsonb, timestamptz, integer
) from public, anon, authenticated;

grant execute on function private.ingest_page(
    bigint, uuid, public.provider_type, jsonb, timestamptz, integer
) to service_role;

create function public.ingest_activities(
    p_connection_id bigint,
    p_items jsonb,
    p_deleted_external_ids text[] default '{}',
    p_received_at timestamptz default now()
)
returns table (created integer, updated integer, skipped integer, deleted integer, errors jsonb)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    conn public.provider_connections;
    received timestamptz := coalesce(p_received_at, now());
    n_created integer := 0;
    n_updated integer := 0;
    n_skipped integer := 0;
    n_deleted integer;
    v_errors jsonb := '[]'::jsonb;
    v_item jsonb;
    v_index integer;
    r record;
begin
    select pc.* into conn
    from public.provider_connections as pc
    where pc.id = p_connection_id;
    if not found then
        raise exception 'unknown connection %', p_connection_id using errcode = '22023';
    end if;
    if p_items is not null and jsonb_typeof(p_items) <> 'array' then
        raise exception 'p_items must be a JSON array of activity payloads, got %',
            jsonb_typeof(p_items) using errcode = '22023';
    end if;

    -- The fast path: the whole page in one statement.
    begin
        select * into r
        from private.ingest_page(
            p_connection_id, conn.user_id, conn.provider, p_items, received, 0
        );
        n_created := r.created;
        n_updated := r.updated;
        n_skipped := r.skipped;
        v_errors := r.errors;
    exception when others then
        -- Something in the page made the statement raise (normalisers never should): redo
        -- the page item by item, each in its own subtransaction, and report the items that
        -- still raise, so the rest of the page is stored.
        for v_item, v_index in
            select i.payload, (i.ord - 1)::integer
            from jsonb_array_elements(p_items) with ordinality as i (payload, ord)
        loop
            begin
                select * into r
                from private.ingest_page(
                    p_connection_id, conn.user_id, conn.provider, jsonb_build_array(v_item),
                    received, v_index
                );
                n_created := n_created + r.created;
                n_updated := n_updated + r.updated;
                n_skipped := n_skipped + r.skipped;
                v_errors := v_errors || r.errors;
            exception when others then
                v_errors := v_errors || jsonb_build_array(
                    jsonb_build_object(
                        'index', v_index,
                        'external_id', null,
                        'reason', left('item could not be ingested: ' || sqlerrm, 500)
                    )
                );
            end;
        end loop;
    end;

    -- Deletions last, so a page that both updates and deletes an activity leaves it deleted.
    -- Only when there are any: an UPDATE of no rows still fires the statement triggers on
    -- activities (duplicate grouping, rollups).
    n_deleted := 0;
    if cardinality(p_deleted_external_ids) > 0 then
        update public.activities as a set
            deleted_at = received
        where
            a.connection_id = p_connection_id
            and a.external_id = any(p_deleted_external_ids)
            and a.deleted_at is null;
        get diagnostics n_deleted = row_count;
    end if;

    return query select n_created, n_updated, n_skipped, n_deleted, v_errors;
end;
$$;

comment on function public.ingest_activities(bigint, jsonb, text[], timestamptz) is
    'Ingests one page of raw provider payloads (a JSON array) for a connection, in one '
    'set-based statement (private.ingest_page): normalises each item '
    '(private.normalize_activity), upserts on (connection_id, external_id) with user_id and '
    'provider taken from the connection, and keeps each written payload in '
    'activity_raw_payloads. Newer wins: an item''s time is its own modification time, else '
    'p_received_at, and an item older than the stored row is skipped; a soft-deleted activity '
    'comes back only with a strictly newer version. Columns a payload''s shape does not carry '
    '(a Strava list item: description, calories, device) keep their stored values. Then soft '
    'deletes p_deleted_external_ids (deleted_at = p_received_at). Returns created, updated, '
    'skipped (valid items that changed nothing: unchanged, older, deleted or repeated in the '
    'page) and deleted counts, and errors: [{index, external_id, reason}] for each malformed '
    'item, which is skipped without aborting the page (should the page''s statement raise, '
    'the items are retried one by one and those that raise are reported). Every item is '
    'counted exactly once in created, updated, skipped or errors. Service role only.';

revoke all on function public.ingest_activities(bigint, jsonb, text[], timestamptz)
from public, anon, authenticated;

grant execute on function public.ingest_activities(bigint, jsonb, text[], timestamptz)
to service_role;

-- Re-normalisation keeps the athlete's fields too -------------------------------------------

create function public.renormalize_activities(
    p_provider public.provider_type default null
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    changed integer;
begin
    with renormalized as (
        select
            a.id,
            n.*,
            -- A derived zone (public.set_activity_timezones) is kept while the source gives
            -- none, with its offset while the source gives none either, and its
            -- timezone_source: the same rule as private.ingest_page.
            coalesce(n.timezone, a.timezone) as kept_timezone,
            case
                when k.derived and coalesce(n.utc_offset, 0) = 0 then
                    case
                        when n.start_date = a.start_date then a.utc_offset
                        else coalesce(
                            private.zone_utc_offset(a.timezone, n.start_date), a.utc_offset
                        )
                    end
                else n.utc_offset
            end as kept_utc_offset,
            case
                when k.derived
                    then (n.activity_data - '_keep_stored')
                    || jsonb_build_object('timezone_source', a.activity_data -> 'timezone_source')
                else n.activity_data - '_keep_stored'
            end as kept_activity_data
        from public.activities as a
        inner join public.activity_raw_payloads as r on a.id = r.activity_id
        cross join lateral private.normalize_activity(a.provider, r.payload) as n
        cross join lateral (
            select (
                n.timezone is null
                and a.timezone is not null
                and coalesce(a.activity_data ? 'timezone_source', false)
            ) as derived
        ) as k
        where
            a.connection_id is not null
            and (p_provider is null or a.provider = p_provider)
    )

    update public.activities as a set
        name = case when 'name' = any(a.user_edited_fields) then a.name else n.name end,
        description = case
            when 'description' = any(a.user_edited_fields) then a.description
            else n.description
        end,
        activity_type = n.activity_type,
        provider_activity_type = n.provider_activity_type,
        start_date = n.start_date,
        timezone = n.kept_timezone,
        utc_offset = n.kept_utc_offset,
        elapsed_time = n.elapsed_time,
        moving_time = n.moving_time,
        distance = n.distance,
        average_speed = n.average_speed,
        max_speed = n.max_speed,
        average_heartrate = n.average_heartrate,
        max_heartrate = n.max_heartrate,
        average_watts = n.average_watts,
        max_watts = n.max_watts,
        weighted_average_watts = n.weighted_average_watts,
        average_cadence = n.average_cadence,
        max_cadence = n.max_cadence,
        elevation_gain = n.elevation_gain,
        elevation_loss = n.elevation_loss,
        calories = n.calories,
        is_manual = n.is_manual,
        is_private = case
            when 'is_private' = any(a.user_edited_fields) then a.is_private
            else n.is_private
        end,
        device_name = n.device_name,
        activity_data = n.kept_activity_data
    from renormalized as n
    where
        a.id = n.id
        and n.error is null
        and (
            case when 'name' = any(a.user_edited_fields) then a.name else n.name end,
            case
                when 'description' = any(a.user_edited_fields) then a.description
                else n.description
            end,
            n.activity_type, n.provider_activity_type, n.start_date,
            n.kept_timezone, n.kept_utc_offset, n.elapsed_time, n.moving_time, n.distance,
            n.average_speed, n.max_speed, n.average_heartrate, n.max_heartrate,
            n.average_watts, n.max_watts, n.weighted_average_watts, n.average_cadence,
            n.max_cadence, n.elevation_gain, n.elevation_loss, n.calories, n.is_manual,
            case
                when 'is_private' = any(a.user_edited_fields) then a.is_private
                else n.is_private
            end,
            n.device_name, n.kept_activity_data
        ) is distinct from (
            a.name, a.description, a.activity_type, a.provider_activity_type, a.start_date,
            a.timezone, a.utc_offset, a.elapsed_time, a.moving_time, a.distance,
            a.average_speed, a.max_speed, a.average_heartrate, a.max_heartrate,
            a.average_watts, a.max_watts, a.weighted_average_watts, a.average_cadence,
            a.max_cadence, a.elevation_gain, a.elevation_loss, a.calories, a.is_manual,
            a.is_private, a.device_name, a.activity_data
        );
    get diagnostics changed = row_count;
    return changed;
end;
$$;

comment on function public.renormalize_activities(public.provider_type) is
    'Re-normalises stored provider activities (of one provider, or all when null) from their '
    'raw payloads in activity_raw_payloads, in place and set-based, after a mapping or a '
    'normaliser improved. Keeps external_id, provider_updated_at and deleted_at; leaves a row '
    'whose payload no longer normalises untouched. Returns the number of rows changed. Service '
    'role only.';

revoke all on function public.renormalize_activities(public.provider_type)
from public, anon, authenticated;

grant execute on function public.renormalize_activities(public.provider_type) to service_role;

create function private.record_user_edits()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    -- Only the Data API's roles are the athlete; workers (service_role) write provider data.
    if current_user not in ('authenticated', 'anon') then
        return new;
    end if;
    new.user_edited_fields := array(
        select distinct f.field
        from unnest(
            old.user_edited_fields
            || case when new.name is distinct from old.name then array['name'] end
            || case
                when new.description is distinct from old.description then array['description']
            end
            || case
                when new.is_private is distinct from old.is_private then array['is_private']
            end
        ) as f (field)
        where f.field is not null
        order by f.field
    );
    return new;
end;
$$;

comment on function private.record_user_edits() is
    'Trigger on activities: when an API role (the athlete) changes name, description or '
    'is_private, adds the field to user_edited_fields, so that later provider data does not '
    'overwrite it. Security invoker: it judges the caller.';

revoke all on function private.record_user_edits() from public, anon, authenticated;

create trigger activities_record_user_edits
before update of name, description, is_private on public.activities
for each row
when (
    -- the Data API's roles only (workers write provider data): no call per row of an ingest
    -- (written column by column: the condition then reads back the same after a dump)
    current_user in ('authenticated', 'anon')
    and (
        new.name is distinct from old.name
        or new.description is distinct from old.description
        or new.is_private is distinct from old.is_private
    )
)
execute function private.record_user_edits();

comment on column private.normalized_activity.average_cadence is
    'Average cadence per minute: steps of both feet for run, trail_run, treadmill_run, '
    'track_run, virtual_run, walk and hike; the source''s unit otherwise.';

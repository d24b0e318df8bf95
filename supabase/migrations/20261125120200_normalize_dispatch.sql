-- Dispatch to the provider normalisers (each defined in its provider's migration).

create function private.normalize_activity(p_provider public.provider_type, p_payload jsonb)
returns setof private.normalized_activity
language sql
stable
parallel safe
-- A SQL body without SET: the planner inlines it, and with it Strava's SQL normaliser,
-- into the ingest query. The union is a SQL case: only the branch of p_provider runs.
as $$
    -- The columns of private.normalized_activity, in order (p_provider and p_payload are the
    -- parameters, not columns).
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
    from (
        select s.* from private.normalize_strava(p_payload) as s  -- noqa: RF03
        where p_provider = 'strava'  -- noqa: RF03
        union all
        select g.* from private.normalize_garmin(p_payload) as g  -- noqa: RF03
        where p_provider = 'garmin'  -- noqa: RF03
        union all
        select p.* from private.normalize_polar(p_payload) as p  -- noqa: RF03
        where p_provider = 'polar'  -- noqa: RF03
        union all
        select c.* from private.normalize_coros(p_payload) as c  -- noqa: RF03
        where p_provider = 'coros'  -- noqa: RF03
        union all
        select w.* from private.normalize_wahoo(p_payload) as w  -- noqa: RF03
        where p_provider = 'wahoo'  -- noqa: RF03
        union all
        select f.* from private.normalize_fitbit(p_payload) as f  -- noqa: RF03
        where p_provider = 'fitbit'  -- noqa: RF03
    ) as r;
$$;

comment on function private.normalize_activity(public.provider_type, jsonb) is
    'Normalises one raw payload of a provider with private.normalize_<provider>(jsonb) (each '
    'provider''s migration supplies it) and returns one row. Checks identity (external_id, '
    'start_date: error when missing or when the item is not a JSON object) and turns metrics '
    'the activities table cannot hold (negative, infinite, heart rate over 300, offset beyond '
    '18 h) into unknown rather than losing the activity; trims name and description to their '
    'limits. Normalisers never raise; should one do so anyway, public.ingest_activities '
    'isolates the item and reports it. activity_data may carry _keep_stored, the columns the '
    'payload''s shape does not carry (the ingest keeps their stored values and strips the key).';

revoke all on function private.normalize_activity(public.provider_type, jsonb)
from public, anon, authenticated;

grant execute on function private.normalize_activity(public.provider_type, jsonb)
to service_role;

create function private.normalize_page(p_provider public.provider_type, p_items jsonb)
returns table (pos integer, payload jsonb, normalized private.normalized_activity)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
    return query
        select (i.ord - 1)::integer, i.payload, n
        from jsonb_array_elements(coalesce(p_items, '[]')) with ordinality as i (payload, ord)
        left join lateral private.normalize_activity(p_provider, i.payload) as n on true;
end;
$$;

comment on function private.normalize_page(public.provider_type, jsonb) is
    'Each item of a page (a JSON array of provider payloads) with its 0-based position and '
    'its private.normalize_activity row (null when the normaliser returned none). A function '
    'of its own so that its plan is made once per session (generic plan) instead of being '
    'inlined into, and re-planned with, private.ingest_page''s statement. Service role only.';

revoke all on function private.normalize_page(public.provider_type, jsonb)
from public, anon, authenticated;

grant execute on function private.normalize_page(public.provider_type, jsonb) to service_role;

-- private.check_normalized reads each field of the normaliser's row several times (a bound
-- check and the value, nullif(btrim(external_id)) twice, start_date four times, activity_data
-- twice). Inlined into a page function (private.normalize_page_<provider>), every such
-- reference became a copy of the normaliser's expression: Strava's activity_data
-- (jsonb_build_object of 25 keys, then jsonb_strip_nulls) was built twice per item, its
-- utc_offset fallback three times. An "offset 0" subquery keeps the row a barrier, so each
-- field is computed once; the function is still inlined (tests/db/test_inlining.py) and its
-- result is unchanged for every input (tests/sync/test_check_normalized_equivalence.py).
-- A page of 200 Strava list items: normalize_page_strava ~8.9 ms -> ~6.4 ms of execution.

create or replace function private.check_normalized(
    p_payload jsonb, p_row private.normalized_activity
)
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
    -- "offset 0": a barrier, each field of the row computed once (see above).
    from (select (p_row).* offset 0) as r;  -- noqa: RF03, AM09
$$;

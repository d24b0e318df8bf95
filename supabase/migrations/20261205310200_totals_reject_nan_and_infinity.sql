-- Like every other numeric column of the schema (tests/db/test_catalog_conventions.py), the
-- sums of the totals tables of 20261205250000 and 20261205250200 reject NaN and ±Infinity: a
-- non-finite sum would poison every later delta of its row.

alter table public.volume_totals
add constraint volume_totals_distance_finite
check (distance > '-Infinity'::numeric and distance < 'Infinity'::numeric),
add constraint volume_totals_elevation_gain_finite
check (elevation_gain > '-Infinity'::numeric and elevation_gain < 'Infinity'::numeric),
add constraint volume_totals_calories_finite
check (calories > '-Infinity'::numeric and calories < 'Infinity'::numeric),
add constraint volume_totals_load_finite
check (load > '-Infinity'::numeric and load < 'Infinity'::numeric);

alter table public.source_totals
add constraint source_totals_distance_finite
check (distance > '-Infinity'::numeric and distance < 'Infinity'::numeric);

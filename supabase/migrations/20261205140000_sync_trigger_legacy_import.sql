-- A sync_history trigger for the runs that carried a connection's history over from Trainlytics
-- v1 (`trainlytics legacy import`).
--
-- Alone in its file on purpose: PostgreSQL 15 lets `alter type ... add value` run inside a
-- transaction block, but the new value cannot be used until that transaction commits, and both
-- the migration runner and the Supabase CLI apply each file in one transaction. The functions
-- that write 'legacy_import' come in the next file (20261205140100_legacy_import.sql).

alter type public.sync_trigger add value if not exists 'legacy_import';

comment on type public.sync_trigger is
    'Why a synchronisation ran: initial (backfill after connecting), scheduled (periodic '
    'polling), webhook (a provider notification), manual (the athlete or an operator asked), '
    'retry (a retry of a failed run), legacy_import (the activities were carried over from a '
    'Trainlytics v1 database by `trainlytics legacy import`, not fetched from the provider).';

-- telemetry: de-duplication by payload event_id, within telemetry.event_id_window. (A repeated
-- series and time is recognised by the unique key of telemetry.readings.)

-- The record of event ids, in generations of the window (extension/core/src/dedup/events.rs):
-- generation g is the window-long stretch of Unix time from g * window. A batch records the ids
-- it sees first in its generation's table and looks them up there and in the previous
-- generation's, so an id is remembered for at least the window and at most twice it. The three
-- partitions take the generations in turn; the one holding the generation before the previous
-- has only expired ids and is emptied whole (TRUNCATE) by the first batch of each writer in a
-- generation that finds it full, and by telemetry.run_maintenance(): no row is ever deleted.
-- Logged, because the shim acknowledges a message once its batch has committed. The text is
-- compared byte by byte (collation "C"): an id is an opaque token.
CREATE TABLE telemetry.recent_events (
    generation bigint NOT NULL,
    series_id  integer NOT NULL,
    event_id   text COLLATE "C" NOT NULL
) PARTITION BY LIST ((generation % 3));
DO $$
BEGIN
  FOR s IN 0 .. 2 LOOP
    EXECUTE pg_catalog.format(
      'CREATE TABLE telemetry.%I PARTITION OF telemetry.recent_events (PRIMARY KEY (generation, series_id, event_id)) FOR VALUES IN (%s)',
      'recent_events_' || s, s);
    EXECUTE pg_catalog.format('COMMENT ON TABLE telemetry.%I IS %L', 'recent_events_' || s,
      'The event ids of the generations g with g % 3 = ' || s || ' (see telemetry.recent_events); emptied whole once expired.');
  END LOOP;
END $$;
COMMENT ON TABLE telemetry.recent_events IS
  'Payload event_ids seen as new, per series, in generations of telemetry.event_id_window: a reading with one of them again is a duplicate even when its timestamp differs, for at least the window after the id was first seen and at most twice it. Each partition holds every third generation and is emptied whole once its ids have expired. Batches of neighbouring generations lock this table (not its partitions) in conflicting modes, so that they never race on an id.';
COMMENT ON COLUMN telemetry.recent_events.generation IS
  'floor(Unix time / telemetry.event_id_window) when the event_id was recorded as new.';
COMMENT ON COLUMN telemetry.recent_events.event_id IS 'The event_id (or message_id) field of the payload.';

-- telemetry: de-duplication by payload event_id, within telemetry.event_id_window. (A repeated
-- series and time is recognised by the unique key of telemetry.readings.)

CREATE TABLE telemetry.recent_events (
    series_id integer NOT NULL,
    event_id  text NOT NULL,
    seen_at   timestamptz NOT NULL,
    PRIMARY KEY (series_id, event_id)
);
CREATE INDEX ON telemetry.recent_events (seen_at);
COMMENT ON TABLE telemetry.recent_events IS
  'Payload event_ids seen within telemetry.event_id_window, per series: a reading with one of them again is a duplicate even when its timestamp differs. Older rows are removed by each batch.';
COMMENT ON COLUMN telemetry.recent_events.event_id IS 'The event_id (or message_id) field of the payload.';
COMMENT ON COLUMN telemetry.recent_events.seen_at IS 'When the event_id was last recorded as new.';

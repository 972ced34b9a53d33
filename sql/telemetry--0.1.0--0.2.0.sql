-- telemetry 0.1.0 to 0.2.0: what the broker said of a message (packet id, retain and DUP
-- flags) and the original size of a payload the client cut, taken by the inbox and the
-- staging table and kept with dead letters; ingest() and ingest_staged() also return the dead
-- letters by reason and the source times of the readings stored. The functions' code comes
-- with the new library.

ALTER TABLE telemetry.dead_letters
  ADD COLUMN packet_id integer,
  ADD COLUMN retained boolean,
  ADD COLUMN redelivered boolean;
COMMENT ON COLUMN telemetry.dead_letters.packet_id IS 'The MQTT packet identifier, when the client passed it on.';
COMMENT ON COLUMN telemetry.dead_letters.retained IS 'The MQTT retain flag, when the client passed it on.';
COMMENT ON COLUMN telemetry.dead_letters.redelivered IS 'The MQTT DUP flag (a redelivery), when the client passed it on.';

ALTER TABLE telemetry.inbox
  ADD COLUMN payload_bytes integer,
  ADD COLUMN packet_id integer,
  ADD COLUMN retained boolean,
  ADD COLUMN redelivered boolean;
COMMENT ON COLUMN telemetry.inbox.payload_bytes IS 'Optional: the original size when the client cut the payload; the message then becomes a payload_too_large dead letter.';
COMMENT ON COLUMN telemetry.inbox.packet_id IS 'Optional: the MQTT packet identifier, kept with dead letters.';
COMMENT ON COLUMN telemetry.inbox.retained IS 'Optional: the MQTT retain flag, kept with dead letters.';
COMMENT ON COLUMN telemetry.inbox.redelivered IS 'Optional: the MQTT DUP flag (a redelivery), kept with dead letters.';

-- A new result type: the two functions are recreated.
DROP FUNCTION telemetry.ingest(text, bytea, timestamptz);
DROP FUNCTION telemetry.ingest_staged();
CREATE FUNCTION telemetry.ingest(topic text, payload bytea, received_at timestamptz DEFAULT now())
RETURNS TABLE (messages int, readings int, duplicates int, conflicting_duplicates int, dead_letters int,
               dead_letter_reasons jsonb, oldest_reading timestamptz, newest_reading timestamptz)
STRICT VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ingest_wrapper';
CREATE FUNCTION telemetry.ingest_staged()
RETURNS TABLE (messages int, readings int, duplicates int, conflicting_duplicates int, dead_letters int,
               dead_letter_reasons jsonb, oldest_reading timestamptz, newest_reading timestamptz)
STRICT VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ingest_staged_wrapper';
COMMENT ON FUNCTION telemetry.ingest(text, bytea, timestamptz) IS
  'ingest(topic, payload, received_at => now()): run one MQTT message through the pipeline (route, decode, convert, validate, score, de-duplicate, store) exactly as a batch would. Returns the counts, the dead letters by reason (jsonb) and the source times of the oldest and newest reading stored. Nothing is dropped silently: what is not stored is in telemetry.dead_letters.';
COMMENT ON FUNCTION telemetry.prepare_staging() IS
  'prepare_staging(): create this session''s staging table pg_temp.telemetry_staging (received_at, topic, payload, and optionally payload_bytes, packet_id, retained, redelivered) if missing and return its name. Rows are deleted at commit.';
COMMENT ON FUNCTION telemetry.ingest_staged() IS
  'ingest_staged(): run every message in pg_temp.telemetry_staging through the pipeline in arrival order, empty the table, and return what telemetry.ingest returns for the whole batch: counts, dead letters by reason, source times of the oldest and newest reading stored. Call it in the transaction that filled the table.';

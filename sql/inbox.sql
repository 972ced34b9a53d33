-- telemetry: the inbox. For clients that can only INSERT or COPY into a table (Telegraf's
-- PostgreSQL output, a Kafka JDBC sink): each statement's rows are taken by a row trigger and run through the pipeline as one
-- batch by a statement trigger. Nothing is ever stored in the table itself.

COMMENT ON FUNCTION telemetry.inbox_begin() IS
  'Statement trigger of telemetry.inbox: opens the collection of one statement''s messages (a nested INSERT into the inbox gets its own).';
COMMENT ON FUNCTION telemetry.inbox_collect() IS
  'Row trigger of telemetry.inbox: keeps each inserted message for the end of its statement and stores nothing.';
COMMENT ON FUNCTION telemetry.inbox_flush() IS
  'Statement trigger of telemetry.inbox: runs the statement''s messages through the ingest pipeline as one batch.';

CREATE TABLE telemetry.inbox (
    received_at   timestamptz DEFAULT pg_catalog.now(),
    topic         text,
    payload       bytea,
    payload_bytes integer,
    packet_id     integer,
    retained      boolean,
    redelivered   boolean
);
COMMENT ON TABLE telemetry.inbox IS
  'INSERT or COPY raw messages (received_at, topic, payload) here and each statement runs them through the ingest pipeline as one batch; the table itself always stays empty. Counts are in telemetry.ingest_batches, rejects in telemetry.dead_letters.';
COMMENT ON COLUMN telemetry.inbox.received_at IS 'When the message arrived; now() when omitted.';
COMMENT ON COLUMN telemetry.inbox.topic IS 'The MQTT topic.';
COMMENT ON COLUMN telemetry.inbox.payload IS 'The raw payload.';
COMMENT ON COLUMN telemetry.inbox.payload_bytes IS 'Optional: the original size when the client cut the payload; the message then becomes a payload_too_large dead letter.';
COMMENT ON COLUMN telemetry.inbox.packet_id IS 'Optional: the MQTT packet identifier, kept with dead letters.';
COMMENT ON COLUMN telemetry.inbox.retained IS 'Optional: the MQTT retain flag, kept with dead letters.';
COMMENT ON COLUMN telemetry.inbox.redelivered IS 'Optional: the MQTT DUP flag (a redelivery), kept with dead letters.';
CREATE TRIGGER begin BEFORE INSERT ON telemetry.inbox
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.inbox_begin();
CREATE TRIGGER collect BEFORE INSERT ON telemetry.inbox
  FOR EACH ROW EXECUTE FUNCTION telemetry.inbox_collect();
CREATE TRIGGER flush AFTER INSERT ON telemetry.inbox
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.inbox_flush();
COMMENT ON TRIGGER begin ON telemetry.inbox IS 'Opens the collection of one INSERT or COPY statement''s messages.';
COMMENT ON TRIGGER collect ON telemetry.inbox IS 'Keeps each message for the end of the statement; stores nothing.';
COMMENT ON TRIGGER flush ON telemetry.inbox IS 'Runs the statement''s messages through the ingest pipeline as one batch.';

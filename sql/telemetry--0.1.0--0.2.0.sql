-- telemetry 0.1.0 to 0.2.0: what the broker said of a message (packet id, retain and DUP
-- flags) and the original size of a payload the client cut, taken by the inbox and the
-- staging table and kept with dead letters. The functions themselves come with the new library.

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

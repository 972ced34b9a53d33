-- Least privilege: reader reads, writer ingests, admin edits registries.
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'telemetry\_%' ORDER BY 1;
INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('s1', 'inv-01', 'active_power');
SET ROLE telemetry_writer;
INSERT INTO telemetry.readings (time, series_id, value) VALUES ('2025-06-01 12:00:00+00', 1, telemetry.to_canonical(1500, 'W', 'active_power'));
INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('s1', 'inv-02', 'active_power');
INSERT INTO telemetry.dead_letters (topic, payload, reason, detail) VALUES ('t', '\x00', 'bad_json', 'test');
UPDATE telemetry.readings SET value = 0;
DELETE FROM telemetry.readings;
INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('w2', 'W');
SELECT telemetry.convert(1, 'kW', 'W');
RESET ROLE;
SET ROLE telemetry_reader;
SELECT time, series_id, value FROM telemetry.readings;
INSERT INTO telemetry.readings (time, series_id, value) VALUES (now(), 1, 1);
UPDATE telemetry.metric_rules SET valid_max = 1 WHERE metric = 'humidity';
RESET ROLE;
SET ROLE telemetry_admin;
INSERT INTO telemetry.sites (site_id, name) VALUES ('s1', 'Solar One');
UPDATE telemetry.metric_rules SET description = 'Relative humidity of the air' WHERE metric = 'humidity';
SELECT count(*) FROM telemetry.readings;
INSERT INTO telemetry.readings (time, series_id, value) VALUES (now(), 1, 1);
RESET ROLE;
-- Readings: unique per series and time, so a redelivery cannot store twice.
INSERT INTO telemetry.readings (time, series_id, value) VALUES ('2025-06-01 12:00:00+00', 1, 1.5);
INSERT INTO telemetry.readings (time, series_id, value) VALUES ('2025-06-01 12:00:00+00', 1, 1.5) ON CONFLICT DO NOTHING;
SELECT count(*) FROM telemetry.readings;

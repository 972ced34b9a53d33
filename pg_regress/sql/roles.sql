-- Least privilege: reader reads, writer ingests, admin edits registries.
SET timezone = 'UTC';
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'telemetry\_%' ORDER BY 1;
INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('roles-site', 'inv-01', 'active_power') RETURNING series_id AS sid \gset
SET ROLE telemetry_writer;
INSERT INTO telemetry.readings (time, series_id, value) VALUES ('2025-06-01 12:00:00+00', :sid, telemetry.to_canonical(1500, 'W', 'active_power'));
INSERT INTO telemetry.series (site_id, asset_id, metric) VALUES ('roles-site', 'inv-02', 'active_power');
INSERT INTO telemetry.dead_letters (topic, payload, reason, detail) VALUES ('t', '\x00', 'bad_json', 'test');
SELECT readings, dead_letters FROM telemetry.ingest('telemetry/roles-site/inv-03/active_power', convert_to('{"value": 5, "ts": 1748779200}', 'UTF8'));
UPDATE telemetry.readings SET value = 0;
DELETE FROM telemetry.readings;
INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('w2', 'W');
SELECT telemetry.convert(1, 'kW', 'W');
RESET ROLE;
SET ROLE telemetry_reader;
SELECT time, value FROM telemetry.readings WHERE series_id = :sid;
INSERT INTO telemetry.readings (time, series_id, value) VALUES (now(), :sid, 1);
UPDATE telemetry.metric_rules SET valid_max = 1 WHERE metric = 'humidity';
SELECT readings FROM telemetry.ingest('telemetry/roles-site/inv-03/active_power', convert_to('{"value": 6}', 'UTF8'));
RESET ROLE;
SET ROLE telemetry_admin;
UPDATE telemetry.sites SET name = 'Solar One' WHERE site_id = 'roles-site';
INSERT INTO telemetry.sites (site_id, name) VALUES ('admin-site', 'Wind Two');
UPDATE telemetry.metric_rules SET description = 'Relative humidity of the air' WHERE metric = 'humidity';
INSERT INTO telemetry.routes (pattern, site_id) VALUES ('roles/{asset_id}/{metric}', 'roles-site');
SELECT count(*) FROM telemetry.readings WHERE series_id = :sid;
INSERT INTO telemetry.readings (time, series_id, value) VALUES (now(), :sid, 1);
RESET ROLE;
-- Readings: unique per series and time, so a redelivery cannot store twice.
DO $$
BEGIN
  INSERT INTO telemetry.readings (time, series_id, value)
  SELECT '2025-06-01 12:00:00+00', series_id, 1.5 FROM telemetry.series WHERE site_id = 'roles-site' AND asset_id = 'inv-01';
EXCEPTION WHEN unique_violation THEN
  RAISE NOTICE 'second reading for the same series and time refused: unique_violation';
END $$;
INSERT INTO telemetry.readings (time, series_id, value) VALUES ('2025-06-01 12:00:00+00', :sid, 1.5) ON CONFLICT DO NOTHING;
SELECT count(*) FROM telemetry.readings WHERE series_id = :sid;

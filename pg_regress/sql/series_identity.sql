-- Series identity is immutable but for telemetry.rename_series(), which records each change;
-- a series that still has readings cannot be deleted. Readings carry only the series_id.
SET timezone = 'UTC';
\set SHOW_CONTEXT never
-- Series ids are given, so that messages naming them do not depend on the other suites.
INSERT INTO telemetry.metric_rules (metric, unit) VALUES
  ('ident_power', 'kW'), ('ident_power_ac', 'kW'), ('ident_level', '%'), ('ident_temp', 'Cel');
INSERT INTO telemetry.series (series_id, site_id, asset_id, metric) VALUES
  (9001, 'ident-site', 'inv-01', 'ident_power'),
  (9002, 'ident-site', 'inv-02', 'ident_power'),
  (9003, 'ident-site', 'tank-1', 'ident_level');
INSERT INTO telemetry.readings (time, series_id, value) VALUES
  ('2025-06-01 12:00+00', 9001, 512.5), ('2025-06-01 12:01+00', 9001, 513), ('2025-06-01 12:00+00', 9002, 100);
-- This session caches the series id of inv-01 as it ingests.
SELECT readings FROM telemetry.ingest('telemetry/ident-site/inv-01/ident_power', convert_to('{"value": 514, "ts": 1748779320}', 'UTF8'));

-- The finding: telemetry_admin could relabel a series, and with it every reading stored under
-- it, or delete it and leave its readings without a label. It holds neither right now.
SET ROLE telemetry_admin;
UPDATE telemetry.series SET asset_id = 'inv-99' WHERE series_id = 9001;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
DELETE FROM telemetry.series WHERE series_id = 9001;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
-- Renaming a metric rule cascades into series.metric; with series of it that is refused too.
UPDATE telemetry.metric_rules SET metric = 'ident_tank_level' WHERE metric = 'ident_level';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
RESET ROLE;
-- The guard holds for the table's owner, whom privileges do not stop: no relabelling by UPDATE,
-- no series_id change, no deleting a series with readings.
UPDATE telemetry.series SET asset_id = 'inv-99' WHERE series_id = 9001;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
DELETE FROM telemetry.series WHERE series_id = 9001;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
UPDATE telemetry.series SET series_id = 9101 WHERE series_id = 9001;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
-- What is not identity may change.
UPDATE telemetry.series SET created_at = '2025-01-01' WHERE series_id = 9003;
SELECT series_id, site_id, asset_id, sensor_id, metric, created_at = '2025-01-01' AS created_2025
  FROM telemetry.series WHERE series_id >= 9001 ORDER BY 1;

-- rename_series as telemetry_admin: the readings keep their series and take its new name.
SET ROLE telemetry_admin;
SELECT series_id, old_asset_id, new_asset_id, old_metric, new_metric, renamed_by = session_user AS by_session_user, note
  FROM telemetry.rename_series(9001, asset_id => 'inv-01a', note => 'asset renamed in the CMMS');
SELECT s.site_id, s.asset_id, s.sensor_id, s.metric, count(*) AS readings
  FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.series_id = 9001 GROUP BY 1, 2, 3, 4;
-- Several fields at once, and a metric with the same canonical unit. The new site and asset are
-- listed in the registries, as ingest lists those it sees first.
SELECT new_site_id, new_asset_id, new_sensor_id, new_metric
  FROM telemetry.rename_series(9002, site_id => 'ident-site-2', sensor_id => 'ct-1', metric => 'ident_power_ac');
SELECT site_id, asset_id FROM telemetry.assets WHERE site_id = 'ident-site-2';
-- Positional arguments work too; NULL keeps a field as it is.
SELECT new_site_id, new_asset_id, new_sensor_id, new_metric FROM telemetry.rename_series(9002, 'ident-site', NULL, '');
-- Refused: an identity another series has (unique_violation) ...
SELECT telemetry.rename_series(9002, asset_id => 'inv-01a', metric => 'ident_power');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
-- ... values the table or its CHECKs would refuse, and control characters ...
SELECT telemetry.rename_series(9002, asset_id => '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT telemetry.rename_series(9002, site_id => repeat('s', 129));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT telemetry.rename_series(9002, sensor_id => repeat('s', 129));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT telemetry.rename_series(9002, asset_id => E'inv\n02');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT telemetry.rename_series(9002, sensor_id => E'ct\t1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
-- ... a metric without a rule, or with another unit: stored values are not converted ...
SELECT telemetry.rename_series(9002, metric => 'ident_nonesuch');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT telemetry.rename_series(9002, metric => 'ident_temp');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
-- ... a series that does not exist, no series, and a rename that changes nothing.
SELECT telemetry.rename_series(8999, asset_id => 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT telemetry.rename_series(NULL, asset_id => 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT telemetry.rename_series(9002, asset_id => 'inv-02', metric => 'ident_power_ac');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
-- The record of renames cannot be written, or forged, by the admin.
INSERT INTO telemetry.series_renames (series_id, old_site_id, old_asset_id, old_sensor_id, old_metric,
                                      new_site_id, new_asset_id, new_sensor_id, new_metric)
VALUES (9001, 'ident-site', 'inv-01a', '', 'ident_power', 'ident-site', 'inv-99', '', 'ident_power');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT series_id, old_site_id, old_asset_id, old_sensor_id, old_metric,
       new_site_id, new_asset_id, new_sensor_id, new_metric, note
  FROM telemetry.series_renames WHERE series_id >= 9001 ORDER BY rename_id;
RESET ROLE;
-- A series without readings may be deleted.
DELETE FROM telemetry.series WHERE series_id = 9003;

-- A change recorded in an earlier transaction does not let a later UPDATE through.
SELECT new_asset_id FROM telemetry.rename_series(9001, asset_id => 'inv-01');
UPDATE telemetry.series SET asset_id = 'inv-01a' WHERE series_id = 9001;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT new_asset_id FROM telemetry.rename_series(9001, asset_id => 'inv-01a');

-- Ingest sees a rename at once: the new name reaches the same series, and a message still
-- carrying the old name registers a new one.
SELECT readings FROM telemetry.ingest('telemetry/ident-site/inv-01a/ident_power', convert_to('{"value": 515, "ts": 1748779380}', 'UTF8'));
SELECT count(*) AS readings_of_9001 FROM telemetry.readings WHERE series_id = 9001;
SELECT readings FROM telemetry.ingest('telemetry/ident-site/inv-01/ident_power', convert_to('{"value": 516, "ts": 1748779440}', 'UTF8'));
SELECT series_id <> 9001 AS new_series FROM telemetry.series WHERE site_id = 'ident-site' AND asset_id = 'inv-01';

-- telemetry_writer and telemetry_reader may not rename, update or delete series.
SET ROLE telemetry_writer;
SELECT telemetry.rename_series(9001, asset_id => 'inv-07');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
UPDATE telemetry.series SET asset_id = 'inv-07' WHERE series_id = 9001;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
DELETE FROM telemetry.series WHERE series_id = 9001;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
RESET ROLE;
SET ROLE telemetry_reader;
SELECT telemetry.rename_series(9001, asset_id => 'inv-07');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT count(*) AS renames_visible FROM telemetry.series_renames WHERE series_id = 9001;
RESET ROLE;
SELECT has_function_privilege('public', 'telemetry.rename_series(integer, text, text, text, text, text)', 'EXECUTE') AS public_may_rename;
SELECT asset_id FROM telemetry.series WHERE series_id = 9001;

-- Topic routes: the DBA adds one with fixed values; priority decides between overlapping
-- patterns; telemetry.match_topic() and the pattern check of telemetry.routes.
SET timezone = 'UTC';
\set rx '''2025-06-01 12:00:05+00'''
CREATE FUNCTION pg_temp.j(text) RETURNS bytea LANGUAGE sql AS $$ SELECT convert_to($1, 'UTF8') $$;

-- The DBA adds one with fixed values; priority decides between overlapping patterns.
INSERT INTO telemetry.routes (pattern, priority, site_id, metric, unit) VALUES ('legacy/{asset_id}', 10, 'legacy-site', 'pressure', 'psi');
SELECT * FROM telemetry.ingest('legacy/pump-9', pg_temp.j('{"value": 100, "ts": 1748779200}'), :rx);
SELECT s.site_id, s.asset_id, s.metric, round(r.value::numeric, 3) AS kpa FROM telemetry.readings r JOIN telemetry.series s USING (series_id) WHERE s.site_id = 'legacy-site';
SELECT * FROM telemetry.match_topic('site/{site_id}/{asset_type}/{asset_id}/{metric}', 'site/ALPHA-001/inverter/INV-01/power');
SELECT count(*) FROM telemetry.match_topic('site/{site_id}/telemetry', 'site/ALPHA-001/other');
INSERT INTO telemetry.routes (pattern) VALUES ('a/#/b');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.routes (pattern) VALUES ('a/{bad name}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

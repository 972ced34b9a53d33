-- Registry edits in one session reach the cached registries of others (relcache invalidation).
CREATE EXTENSION dblink;
SELECT telemetry.convert(1, 'kW', 'W');
SELECT telemetry.convert(1, 'kilowatz', 'W');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dblink_exec('dbname=' || current_database() || ' port=' || current_setting('port') || ' host=' || current_setting('unix_socket_directories'),
                   $$INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('kilowatz', 'kW')$$);
SELECT telemetry.convert(1, 'kilowatz', 'W');
-- A rolled-back edit leaves no trace in the cache.
BEGIN;
DELETE FROM telemetry.unit_aliases WHERE alias = 'kilowatz';
SELECT telemetry.convert(1, 'kilowatz', 'W');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT telemetry.convert(1, 'kilowatz', 'W');
DROP EXTENSION dblink;

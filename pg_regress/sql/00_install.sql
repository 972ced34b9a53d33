-- Installing: CREATE EXTENSION telemetry CASCADE brings TimescaleDB along.
CREATE EXTENSION telemetry CASCADE;
SELECT extname, extversion, extnamespace::regnamespace FROM pg_extension WHERE extname IN ('telemetry', 'timescaledb') ORDER BY 1;
SELECT telemetry.timescaledb_license();
SELECT hypertable_schema, hypertable_name, num_dimensions FROM timescaledb_information.hypertables;
SELECT column_name, time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = 'readings';

-- Every object of the extension has a COMMENT: this lists those that do not (none).
SELECT pg_describe_object(classid, objid, 0) AS uncommented
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'telemetry')
   AND deptype = 'e'
   AND classid <> 'pg_type'::regclass
   AND obj_description(objid, classid::regclass::text) IS NULL
 ORDER BY 1;
-- (A partition's columns are those of its parent, which has the comments.)
SELECT 'telemetry.' || c.relname || '.' || a.attname AS column_without_comment
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'telemetry'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND a.attnum > 0 AND NOT a.attisdropped
   AND col_description(c.oid, a.attnum) IS NULL
   AND a.attname NOT IN ('site_id', 'asset_id', 'name', 'alias', 'unit', 'metric', 'description',
                         'latitude', 'longitude', 'series_id', 'created_at', 'dead_letter_id',
                         'received_at', 'topic', 'route_id', 'batch_id')
 ORDER BY 1;

-- Tables the DBA edits are dumped by pg_dump (their user rows only, for the registries).
SELECT unnest(extconfig)::regclass AS dumped, unnest(extcondition) AS condition
  FROM pg_extension WHERE extname = 'telemetry' ORDER BY 1::text COLLATE "C";

-- What ships: units per dimension, metric rules.
SELECT dimension, count(*) AS units FROM telemetry.units GROUP BY 1 ORDER BY 1;
SELECT count(*) AS aliases FROM telemetry.unit_aliases;
SELECT metric, unit, valid_min, valid_max FROM telemetry.metric_rules ORDER BY metric;

-- Every object of the extension and what defines it, ordered by name (OIDs differ between
-- the two databases). The upgrade test
-- compares this for a database upgraded from the previous release and for a fresh install.
\pset footer off
SELECT extversion FROM pg_extension WHERE extname = 'telemetry';
SELECT pg_describe_object(classid, objid, 0) AS member
  FROM pg_depend
 WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'telemetry') AND deptype = 'e'
 ORDER BY 1;
SELECT c.oid::regclass AS relation, c.relkind, c.relacl, obj_description(c.oid, 'pg_class') AS comment
  FROM pg_class c WHERE c.relnamespace = 'telemetry'::regnamespace ORDER BY c.oid::regclass::text;
-- Columns by their visible position: a column an upgrade dropped leaves a gap in attnum.
SELECT c.oid::regclass AS relation, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS position, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull, a.attidentity, pg_get_expr(d.adbin, d.adrelid) AS default, col_description(c.oid, a.attnum) AS comment
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'telemetry'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY c.oid::regclass::text, a.attnum;
SELECT conrelid::regclass AS relation, conname, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE connamespace = 'telemetry'::regnamespace ORDER BY conrelid::regclass::text, conname;
SELECT i.indexrelid::regclass AS index, pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'telemetry'::regnamespace ORDER BY i.indexrelid::regclass::text;
SELECT t.tgrelid::regclass AS relation, t.tgname, pg_get_triggerdef(t.oid) AS definition,
       obj_description(t.oid, 'pg_trigger') AS comment
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'telemetry'::regnamespace AND NOT t.tgisinternal ORDER BY t.tgrelid::regclass::text, t.tgname;
SELECT c.oid::regclass AS view, pg_get_viewdef(c.oid) AS definition
  FROM pg_class c WHERE c.relnamespace = 'telemetry'::regnamespace AND c.relkind = 'v' ORDER BY c.oid::regclass::text;
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS result,
       pg_get_function_arguments(p.oid) AS arguments, p.provolatile, p.proisstrict, p.proparallel,
       p.prosecdef, p.proconfig, p.proowner::regrole AS owner, p.prosrc, p.proacl, obj_description(p.oid, 'pg_proc') AS comment
  FROM pg_proc p WHERE p.pronamespace = 'telemetry'::regnamespace ORDER BY p.oid::regprocedure::text;
SELECT t.oid::regtype AS type, t.typtype, obj_description(t.oid, 'pg_type') AS comment,
       array(SELECT enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY enumsortorder) AS labels
  FROM pg_type t
 WHERE t.typnamespace = 'telemetry'::regnamespace AND t.typtype IN ('c', 'd', 'e') AND t.typrelid = 0
 ORDER BY t.oid::regtype::text;
-- The registries' shipped rows.
SELECT (SELECT count(*) FROM telemetry.units) AS units, (SELECT count(*) FROM telemetry.unit_aliases) AS unit_aliases,
       (SELECT count(*) FROM telemetry.metric_rules) AS metric_rules, (SELECT count(*) FROM telemetry.metric_aliases) AS metric_aliases,
       (SELECT count(*) FROM telemetry.routes) AS routes;
-- What pg_dump keeps of each configuration table.
SELECT config_table::regclass, condition
  FROM pg_extension, unnest(extconfig, extcondition) AS x (config_table, condition)
 WHERE extname = 'telemetry' ORDER BY config_table::regclass::text;

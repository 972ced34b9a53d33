-- telemetry: loaded first (bootstrap), before anything else, the Rust functions included: the
-- checks that make the install safe to run, then the one SQL type the Rust functions name
-- (telemetry.validate() returns it, and requires this file by its name, "schema").

-- The install runs as a superuser. Before it runs anything else it makes sure that no other role
-- can have put objects where it looks for them. CREATE EXTENSION starts it with search_path
-- "telemetry, public": any role that may create in public (every database upgraded from
-- PostgreSQL 14 or earlier) could plant a function there that a call without a schema would
-- run with superuser rights (the CVE-2023-39417 class), and a schema telemetry created
-- beforehand by another role would be used as it is, with whatever that role put in it.
--
-- 1. The schema telemetry must be safe to run in: owned by the installing role or another
--    superuser (a dump restored by another superuser than the one who installed creates it with
--    its old owner), with no CREATE for anyone but its owner, and holding no function, operator,
--    type or relation of a role that is not a superuser, other than the extension's own. A
--    schema only superusers can have put things in gives no one rights they do not have
--    already. These checks run with only pg_catalog on the path, since the schema is not
--    trusted yet. (The upgrade scripts start with the same block.)
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
DO $$
DECLARE
  ns pg_catalog.oid;
  schema_owner pg_catalog.oid;
  acl pg_catalog.aclitem[];
  foreign_object text;
BEGIN
  SELECT n.oid, n.nspowner, n.nspacl INTO ns, schema_owner, acl
    FROM pg_catalog.pg_namespace n WHERE n.nspname = 'telemetry';
  IF pg_catalog.pg_get_userbyid(schema_owner) <> current_user
     AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = schema_owner) THEN
    RAISE EXCEPTION 'schema telemetry already exists and is owned by %, who is not a superuser', pg_catalog.pg_get_userbyid(schema_owner)
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Its owner could have put objects in it that the install would run as superuser. Inspect it and drop it (DROP SCHEMA telemetry CASCADE), or make it yours (ALTER SCHEMA telemetry OWNER TO ' || pg_catalog.quote_ident(current_user) || ') once you trust what it holds, then try again.';
  END IF;
  SELECT pg_catalog.string_agg(CASE a.grantee WHEN 0 THEN 'PUBLIC'
                               ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ')
    INTO foreign_object
    FROM pg_catalog.aclexplode(acl) a
   WHERE a.privilege_type = 'CREATE' AND a.grantee <> schema_owner;
  IF foreign_object IS NOT NULL THEN
    RAISE EXCEPTION 'schema telemetry already exists and lets % create objects in it', foreign_object
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Only its owner may create in the schema of the extension. Check what those roles put in it, REVOKE CREATE ON SCHEMA telemetry FROM them, then try again.';
  END IF;
  -- Functions, operators, types and relations (a table's row type is a type too), but not what
  -- our own scripts made: members of the extension (an upgrade finds the ingest entry points
  -- owned by telemetry_pipeline).
  SELECT pg_catalog.format('%s (owned by %s)', pg_catalog.pg_describe_object(o.classid, o.objid, 0),
                           pg_catalog.pg_get_userbyid(o.owner))
    INTO foreign_object
    FROM (SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, p.proowner
            FROM pg_catalog.pg_proc p WHERE p.pronamespace = ns
          UNION ALL
          SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, o.oprowner
            FROM pg_catalog.pg_operator o WHERE o.oprnamespace = ns
          UNION ALL
          SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, t.typowner
            FROM pg_catalog.pg_type t WHERE t.typnamespace = ns AND t.typrelid = 0 AND t.typcategory <> 'A'
          UNION ALL
          SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, c.relowner
            FROM pg_catalog.pg_class c WHERE c.relnamespace = ns AND c.relkind NOT IN ('i', 'I', 't')
         ) AS o (classid, objid, owner)
    JOIN pg_catalog.pg_roles r ON r.oid = o.owner
   WHERE NOT r.rolsuper
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                      WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'e'
                        AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                        AND e.extname = 'telemetry')
   ORDER BY 1 LIMIT 1;
  IF foreign_object IS NOT NULL THEN
    RAISE EXCEPTION 'schema telemetry holds % of a role that is not a superuser', foreign_object
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'It would be used with superuser rights. Drop it, or the schema (DROP SCHEMA telemetry CASCADE), then try again.';
  END IF;
END $$;

-- 2. From here on the script resolves names in telemetry (checked above; pgrx creates the Rust
--    functions without a schema, so telemetry must come first), then pg_catalog, never public.
--    Built-in functions are still named with pg_catalog, and the plpgsql and SQL functions we
--    ship pin their own search_path or name every object, so that they are safe when they run,
--    under the caller's search_path, too.
SELECT pg_catalog.set_config('search_path', 'telemetry, pg_catalog, pg_temp', true);

-- 3. TimescaleDB's functions are called with their schema, looked up in pg_extension (it is
--    public only by default). A schema name alone does not make a call safe: a role that may
--    create in that schema can add an overload that matches our arguments better than
--    TimescaleDB's polymorphic ones (by_range(name, anyelement, regproc) loses to a planted
--    by_range(name, interval), add_compression_policy(regclass, "any", ...) to one taking an
--    interval), and no cast can make an argument match anyelement or "any" exactly. So the
--    install refuses when a function of the names it calls exists in that schema and is not a
--    member of the timescaledb extension: then every candidate a call can resolve to is
--    TimescaleDB's own. pg_proc is locked in SHARE mode until the install commits, so that no
--    function can be created or renamed between this check and the calls, here or in the files
--    loaded after this one. timescaledb_information.chunks, used by telemetry.reorder_chunks(),
--    lives in a schema TimescaleDB creates itself (its install fails if it exists) and only
--    TimescaleDB's owner can create in it.
DO $$
DECLARE
  planted text;
BEGIN
  LOCK TABLE pg_catalog.pg_proc IN SHARE MODE;
  SELECT pg_catalog.string_agg(pg_catalog.format('%s (owned by %s)', p.oid::pg_catalog.regprocedure,
                                                 pg_catalog.pg_get_userbyid(p.proowner)), ', '
                               ORDER BY p.oid::pg_catalog.regprocedure::text)
    INTO planted
    FROM pg_catalog.pg_extension e
    JOIN pg_catalog.pg_proc p ON p.pronamespace = e.extnamespace
   WHERE e.extname = 'timescaledb'
     AND p.proname = ANY (ARRAY['create_hypertable', 'by_range', 'add_compression_policy'])
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                        AND d.objid = p.oid
                        AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                        AND d.refobjid = e.oid
                        AND d.deptype = 'e');
  IF planted IS NOT NULL THEN
    RAISE EXCEPTION 'not installing telemetry: the schema of TimescaleDB holds functions the install would call that are not part of the timescaledb extension: %', planted
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'The install calls TimescaleDB''s function of that name as superuser, and this one could be called instead. Find out who created it and why, drop it, and revoke CREATE on that schema from roles that need not create there; then run CREATE EXTENSION telemetry again.';
  END IF;
END $$;

COMMENT ON SCHEMA telemetry IS 'Industrial telemetry: registries, readings hypertable, and the functions that clean readings.';

-- Validation (the Rust function telemetry.validate()).
CREATE TYPE telemetry.validation_status AS ENUM
  ('ok', 'below_min', 'above_max', 'not_finite', 'missing', 'unknown_metric');
COMMENT ON TYPE telemetry.validation_status IS
  'Result of telemetry.validate: ok, below_min, above_max, not_finite, missing, unknown_metric.';

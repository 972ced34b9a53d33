-- The install runs as a superuser, and must never run what another role planted where it looks
-- (the CVE-2023-39417 class): in a database where everyone may create in public (any cluster
-- upgraded from PostgreSQL 14 or earlier), or in a schema telemetry that someone else created.
-- Everything happens in a database of its own, removed at the end with the role.
SELECT current_database() AS regress_db \gset
CREATE ROLE regress_planter;
CREATE DATABASE regress_install_security;
\c regress_install_security
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE EXTENSION timescaledb;

-- An ordinary role plants by_range(text, interval) in public. Called by a superuser it makes its
-- author superuser, then hands over to TimescaleDB's by_range, so the caller sees nothing amiss.
SET ROLE regress_planter;
CREATE FUNCTION public.by_range(column_name text, partition_interval interval)
RETURNS _timescaledb_internal.dimension_info LANGUAGE plpgsql AS $$
BEGIN
  ALTER ROLE regress_planter SUPERUSER;
  RETURN public.by_range(column_name::name, partition_interval, NULL::regproc);
END $$;
-- The finding: the call sql/schema.sql made, by_range('time', interval '1 day') without a schema
-- under the search_path CREATE EXTENSION gives its script, runs the planted function (here as its
-- author, who may not make itself superuser; the install ran it as superuser).
SET search_path = telemetry, public;
SELECT by_range('time', interval '1 day');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET search_path;
RESET ROLE;
-- Called by a superuser, as the install called it, it makes its author superuser (rolled back).
BEGIN;
SET LOCAL search_path = telemetry, public;
SELECT by_range('time', interval '1 day') IS NOT NULL AS called;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_planter';
ROLLBACK;

-- Now the install refuses, and the role is still not superuser.
CREATE EXTENSION telemetry;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_planter';
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'telemetry';

-- Naming the schema is not enough: an overload that matches better than TimescaleDB's polymorphic
-- by_range(name, anyelement, regproc) wins even a call qualified with public. So do other shapes
-- of the functions the install calls. Every one is refused, by name and owner.
SET ROLE regress_planter;
CREATE FUNCTION public.by_range(column_name name, partition_interval interval)
RETURNS _timescaledb_internal.dimension_info LANGUAGE plpgsql AS $$
BEGIN
  ALTER ROLE regress_planter SUPERUSER;
  RETURN public.by_range(column_name, partition_interval, NULL::regproc);
END $$;
SELECT public.by_range('time'::name, interval '1 day');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE FUNCTION public.create_hypertable(relation text, dimension _timescaledb_internal.dimension_info,
                                         create_default_indexes boolean)
RETURNS void LANGUAGE plpgsql AS $$ BEGIN ALTER ROLE regress_planter SUPERUSER; END $$;
CREATE FUNCTION public.add_compression_policy(hypertable regclass, compress_after interval)
RETURNS integer LANGUAGE plpgsql AS $$ BEGIN ALTER ROLE regress_planter SUPERUSER; RETURN 0; END $$;
RESET ROLE;
CREATE EXTENSION telemetry;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_planter';

-- One planted function is enough.
SET ROLE regress_planter;
DROP FUNCTION public.by_range(text, interval), public.by_range(name, interval),
              public.create_hypertable(text, _timescaledb_internal.dimension_info, boolean);
RESET ROLE;
CREATE EXTENSION telemetry;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
SET ROLE regress_planter;
DROP FUNCTION public.add_compression_policy(regclass, interval);
RESET ROLE;

-- Without them it installs (CREATE in public stays granted), and nothing planted ever ran.
CREATE EXTENSION telemetry;
\echo :SQLSTATE
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_planter';
SELECT count(*) AS hypertables FROM timescaledb_information.hypertables WHERE hypertable_schema = 'telemetry';
-- Every object of the extension is in schema telemetry, though pgrx creates the Rust functions
-- without naming a schema: the script's pinned search_path starts with telemetry.
SELECT DISTINCT o.schema
  FROM pg_depend d, pg_identify_object(d.classid, d.objid, 0) o
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'telemetry')
 ORDER BY 1;
-- The functions we ship in plpgsql or SQL pin their search_path or name every object, so a
-- planted public function cannot reach them at run time either.
SELECT p.oid::regprocedure AS function, p.proconfig, p.prosecdef
  FROM pg_proc p WHERE p.pronamespace = 'telemetry'::regnamespace
   AND p.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('plpgsql', 'sql'))
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- A schema telemetry created beforehand by an ordinary role is refused. (CREATE EXTENSION
-- creates the schema when it is missing, and DROP EXTENSION leaves it.)
DROP EXTENSION telemetry;
DROP SCHEMA telemetry;
GRANT CREATE ON DATABASE regress_install_security TO regress_planter;
SET ROLE regress_planter;
CREATE SCHEMA telemetry;
-- A length(text) here would win over pg_catalog's in any unqualified call of the script.
CREATE FUNCTION telemetry.length(text) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN ALTER ROLE regress_planter SUPERUSER; RETURN 1; END $$;
CREATE TABLE telemetry.text (planted boolean);
RESET ROLE;
CREATE EXTENSION telemetry;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
-- Made the installer's, it still holds the ordinary role's planted function ...
ALTER SCHEMA telemetry OWNER TO CURRENT_USER;
CREATE EXTENSION telemetry;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
DROP FUNCTION telemetry.length(text);
-- ... and its table, whose row type telemetry.text would stand for text in the script.
CREATE EXTENSION telemetry;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
DROP TABLE telemetry.text;
-- Others may not create in it either.
GRANT CREATE ON SCHEMA telemetry TO PUBLIC, regress_planter;
CREATE EXTENSION telemetry;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\echo :SQLSTATE
REVOKE CREATE ON SCHEMA telemetry FROM PUBLIC, regress_planter;
-- A schema of another superuser is used, as when a dump made of another superuser's install is
-- restored: only superusers could have put anything in it.
CREATE ROLE regress_other_superuser SUPERUSER;
ALTER SCHEMA telemetry OWNER TO regress_other_superuser;
CREATE EXTENSION telemetry;
\echo :SQLSTATE
SELECT extname, extnamespace::regnamespace, pg_get_userbyid(n.nspowner) AS schema_owner
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'telemetry';
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_planter';

\c :regress_db
DROP DATABASE regress_install_security;
DROP ROLE regress_planter, regress_other_superuser;

-- telemetry 0.2.0 to 0.3.0, the part for issue [S] items 1 and 2: the install hardening and
-- immutable series identity. This is exactly the SQL the upgrade script must run for them.
-- sql/telemetry--0.2.0--0.3.0.sql takes section 1 before its first statement and sections 2 to
-- 4 after its last one: so composed, tests/upgrade/upgrade.sh finds databases updated from
-- 0.1.0 and from 0.2.0 identical to a fresh install.
-- Nothing here calls TimescaleDB. What 0.3.0 changed only in how the install script names
-- built-ins (pg_catalog.now() in defaults, pg_catalog.length() in CHECKs, the view
-- telemetry.ingest_stats) resolves to the same functions and needs no upgrade step.

-- 1. First in the upgrade script: the same check of the schema as at the top of sql/schema.sql
--    (a telemetry schema taken over before 0.3.0 is refused here too), then the same pinned
--    search_path as the install.
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

SELECT pg_catalog.set_config('search_path', 'telemetry, pg_catalog, pg_temp', true);

-- 2. The functions we ship in SQL and plpgsql: names qualified, search_path pinned.
CREATE OR REPLACE FUNCTION telemetry.timescaledb_license() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(pg_catalog.current_setting('timescaledb.license', true), 'apache') $$;

CREATE OR REPLACE FUNCTION telemetry.reorder_chunks(older_than interval DEFAULT interval '1 day')
RETURNS TABLE (chunk regclass, bytes_before bigint, bytes_after bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c regclass;
  idx name;
BEGIN
  IF older_than IS NULL OR older_than < interval '0' THEN
    RAISE EXCEPTION 'older_than must be a non-negative interval, not %', older_than
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR c IN
    SELECT pg_catalog.format('%I.%I', ch.chunk_schema, ch.chunk_name)::pg_catalog.regclass
      FROM timescaledb_information.chunks ch
     WHERE ch.hypertable_schema = 'telemetry' AND ch.hypertable_name = 'readings'
       AND ch.range_end <= pg_catalog.now() - older_than
     ORDER BY ch.range_start
  LOOP
    SELECT ic.relname INTO idx
      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid = c AND i.indisunique AND NOT i.indisclustered;
    CONTINUE WHEN idx IS NULL;
    bytes_before := pg_catalog.pg_total_relation_size(c);
    EXECUTE pg_catalog.format('CLUSTER %s USING %I', c, idx);
    chunk := c;
    bytes_after := pg_catalog.pg_total_relation_size(c);
    RAISE NOTICE 'telemetry.reorder_chunks: % from % to % bytes', c, bytes_before, bytes_after;
    RETURN NEXT;
  END LOOP;
END $$;

-- 3. Series identity (sql/series_identity.sql, from its first object on).
CREATE TABLE telemetry.series_renames (
    rename_id     bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    series_id     integer NOT NULL,
    old_site_id   text NOT NULL,
    old_asset_id  text NOT NULL,
    old_sensor_id text NOT NULL,
    old_metric    text NOT NULL,
    new_site_id   text NOT NULL,
    new_asset_id  text NOT NULL,
    new_sensor_id text NOT NULL,
    new_metric    text NOT NULL,
    renamed_by    text NOT NULL DEFAULT session_user,
    renamed_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    note          text
);
CREATE INDEX ON telemetry.series_renames (series_id, renamed_at);
COMMENT ON TABLE telemetry.series_renames IS
  'Every change of a series'' identity, made by telemetry.rename_series(): the old and the new (site_id, asset_id, sensor_id, metric), who made it, when and why. Rows outlive the series they name.';
COMMENT ON COLUMN telemetry.series_renames.rename_id IS 'Identity of the rename, in the order they were made.';
COMMENT ON COLUMN telemetry.series_renames.old_site_id IS 'Site of the series before the rename.';
COMMENT ON COLUMN telemetry.series_renames.old_asset_id IS 'Asset of the series before the rename.';
COMMENT ON COLUMN telemetry.series_renames.old_sensor_id IS 'Sensor of the series before the rename.';
COMMENT ON COLUMN telemetry.series_renames.old_metric IS 'Metric of the series before the rename.';
COMMENT ON COLUMN telemetry.series_renames.new_site_id IS 'Site of the series after the rename.';
COMMENT ON COLUMN telemetry.series_renames.new_asset_id IS 'Asset of the series after the rename.';
COMMENT ON COLUMN telemetry.series_renames.new_sensor_id IS 'Sensor of the series after the rename.';
COMMENT ON COLUMN telemetry.series_renames.new_metric IS 'Metric of the series after the rename.';
COMMENT ON COLUMN telemetry.series_renames.renamed_by IS 'The session''s login role (session_user): the person behind any SET ROLE.';
COMMENT ON COLUMN telemetry.series_renames.renamed_at IS 'Transaction time of the rename.';
COMMENT ON COLUMN telemetry.series_renames.note IS 'Why, as the caller of telemetry.rename_series() gave it.';
COMMENT ON SEQUENCE telemetry.series_renames_rename_id_seq IS 'Identity of telemetry.series_renames.rename_id.';

-- The guard. telemetry_admin has no UPDATE on telemetry.series (sql/grants.sql), but the
-- table's owner has, and a rename of a metric rule cascades into series.metric (ON UPDATE
-- CASCADE) with the owner's rights; so the guard is a trigger, which refuses every path but
-- rename_series(). That function records the rename before it updates the row, and the guard
-- lets an identity change through only when the change it sees is recorded in this
-- transaction. No one but the owner can write telemetry.series_renames, so the record cannot
-- be forged by a role the guard is meant to stop.
--
-- A renamed metric rule is refused rather than cascaded when series use it: it would relabel
-- every series of the metric at once, and the cascade runs with the rights of the table's
-- owner, not of the role that renamed the rule, so it could not be recorded as that role's
-- change. The error says what to do instead (an alias, or a new rule and rename_series()).
-- Deleting a series is refused while telemetry.readings holds readings of it.
CREATE FUNCTION telemetry.series_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  label text := pg_catalog.format('site %s, asset %s, sensor %s, metric %s',
                  pg_catalog.to_json(OLD.site_id), pg_catalog.to_json(OLD.asset_id),
                  pg_catalog.to_json(OLD.sensor_id), pg_catalog.to_json(OLD.metric));
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF EXISTS (SELECT FROM telemetry.readings r WHERE r.series_id = OLD.series_id) THEN
      RAISE EXCEPTION 'series % (%) has readings and cannot be deleted', OLD.series_id, label
        USING ERRCODE = 'foreign_key_violation',
              DETAIL = 'telemetry.readings holds readings with series_id ' || OLD.series_id
                       || '; without the series they would have no site, asset, sensor or metric.',
              HINT = 'A wrongly labelled series is renamed with telemetry.rename_series(' || OLD.series_id
                     || ', ...), which keeps its readings and records the change. To remove the series, its readings must be deleted first (by the owner of telemetry.readings, or with drop_chunks as they age out).';
    END IF;
    RETURN OLD;
  END IF;

  IF NEW.series_id IS DISTINCT FROM OLD.series_id THEN
    RAISE EXCEPTION 'series_id of series % (%) cannot change to %', OLD.series_id, label, NEW.series_id
      USING ERRCODE = 'restrict_violation',
            DETAIL = 'Readings refer to their series by series_id.';
  END IF;
  IF (NEW.site_id, NEW.asset_id, NEW.sensor_id, NEW.metric)
     IS NOT DISTINCT FROM (OLD.site_id, OLD.asset_id, OLD.sensor_id, OLD.metric) THEN
    RETURN NEW;
  END IF;
  -- The change rename_series() recorded just before it updated the row.
  IF EXISTS (SELECT FROM telemetry.series_renames r
              WHERE r.series_id = OLD.series_id AND r.renamed_at = pg_catalog.now()
                AND (r.old_site_id, r.old_asset_id, r.old_sensor_id, r.old_metric)
                    = (OLD.site_id, OLD.asset_id, OLD.sensor_id, OLD.metric)
                AND (r.new_site_id, r.new_asset_id, r.new_sensor_id, r.new_metric)
                    = (NEW.site_id, NEW.asset_id, NEW.sensor_id, NEW.metric)) THEN
    RETURN NEW;
  END IF;
  -- Only the metric changed, and its rule is gone: the cascade of a renamed metric rule.
  IF (NEW.site_id, NEW.asset_id, NEW.sensor_id) = (OLD.site_id, OLD.asset_id, OLD.sensor_id)
     AND NOT EXISTS (SELECT FROM telemetry.metric_rules m WHERE m.metric = OLD.metric) THEN
    RAISE EXCEPTION 'metric rule % cannot be renamed to % while series use it: series % (%) would be relabelled',
        pg_catalog.to_json(OLD.metric), pg_catalog.to_json(NEW.metric), OLD.series_id, label
      USING ERRCODE = 'restrict_violation',
            DETAIL = 'Renaming the rule would relabel the stored readings of every series of the metric, unrecorded.',
            HINT = 'To accept the new name from devices, keep the rule and add the name to telemetry.metric_aliases. To move series to a new name, add a rule with that name and the same unit, move each series with telemetry.rename_series(series_id, metric => ...), which records it, then delete the old rule.';
  END IF;
  RAISE EXCEPTION 'series % (%) cannot be relabelled by UPDATE', OLD.series_id, label
    USING ERRCODE = 'restrict_violation',
          DETAIL = 'The identity of a series (site_id, asset_id, sensor_id, metric) labels its stored readings.',
          HINT = 'Use telemetry.rename_series(' || OLD.series_id
                 || ', site_id => ..., asset_id => ..., sensor_id => ..., metric => ..., note => ...), which checks the new identity and records the change in telemetry.series_renames.';
END $$;
COMMENT ON FUNCTION telemetry.series_guard() IS
  'Trigger function of telemetry.series: refuses a change of series_id, a change of identity (site_id, asset_id, sensor_id, metric) other than through telemetry.rename_series() (a cascaded rename of a metric rule included), and deleting a series that still has readings.';

CREATE TRIGGER guard BEFORE UPDATE OR DELETE ON telemetry.series
  FOR EACH ROW EXECUTE FUNCTION telemetry.series_guard();
COMMENT ON TRIGGER guard ON telemetry.series IS
  'Series identity is immutable but for telemetry.rename_series(), and a series with readings cannot be deleted.';

-- SECURITY DEFINER: telemetry_admin may neither update telemetry.series nor write the record
-- of renames; this function does both, after its checks. Every name in it carries its schema
-- and the search_path is pinned, so the caller's search_path cannot reach into it.
CREATE FUNCTION telemetry.rename_series(
    series_id integer,
    site_id text DEFAULT NULL,
    asset_id text DEFAULT NULL,
    sensor_id text DEFAULT NULL,
    metric text DEFAULT NULL,
    note text DEFAULT NULL)
RETURNS telemetry.series_renames
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  cur telemetry.series;
  new_site text := rename_series.site_id;
  new_asset text := rename_series.asset_id;
  new_sensor text := rename_series.sensor_id;
  field text;
  val text;
  old_unit text;
  new_unit text;
  clash integer;
  done telemetry.series_renames;
BEGIN
  IF rename_series.series_id IS NULL THEN
    RAISE EXCEPTION 'rename_series: series_id must not be NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- The same rules as the CHECKs of telemetry.series, and no control characters.
  FOR field, val IN VALUES ('site_id', new_site), ('asset_id', new_asset), ('sensor_id', new_sensor) LOOP
    CONTINUE WHEN val IS NULL;
    IF pg_catalog.length(val) > 128 OR (field <> 'sensor_id' AND val = '') THEN
      RAISE EXCEPTION 'rename_series: % must be % to 128 characters long, not %', field,
          CASE field WHEN 'sensor_id' THEN 0 ELSE 1 END, pg_catalog.length(val)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF val ~ '[[:cntrl:]]' THEN
      RAISE EXCEPTION 'rename_series: % must not contain control characters: %', field, pg_catalog.to_json(val)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;

  SELECT * INTO cur FROM telemetry.series s WHERE s.series_id = rename_series.series_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'rename_series: there is no series %', rename_series.series_id
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Series are listed in telemetry.series.';
  END IF;
  new_site := coalesce(new_site, cur.site_id);
  new_asset := coalesce(new_asset, cur.asset_id);
  new_sensor := coalesce(new_sensor, cur.sensor_id);

  -- A rename relabels readings; it does not convert them, so the unit must stay the same.
  IF rename_series.metric IS NOT NULL AND rename_series.metric <> cur.metric THEN
    SELECT m.unit INTO new_unit FROM telemetry.metric_rules m WHERE m.metric = rename_series.metric;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'rename_series: metric % is not in telemetry.metric_rules', pg_catalog.to_json(rename_series.metric)
        USING ERRCODE = 'foreign_key_violation',
              HINT = 'Series carry canonical metric names; telemetry.normalize_metric() maps a vendor name to one. Add a rule first for a new metric.';
    END IF;
    SELECT m.unit INTO old_unit FROM telemetry.metric_rules m WHERE m.metric = cur.metric;
    IF new_unit IS DISTINCT FROM old_unit THEN
      RAISE EXCEPTION 'rename_series: series % stores values in % (metric %), but metric % is in %',
          cur.series_id, old_unit, pg_catalog.to_json(cur.metric), pg_catalog.to_json(rename_series.metric), new_unit
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'A rename relabels the stored values without converting them: choose a metric with the same canonical unit.';
    END IF;
  END IF;

  IF (new_site, new_asset, new_sensor, coalesce(rename_series.metric, cur.metric))
     = (cur.site_id, cur.asset_id, cur.sensor_id, cur.metric) THEN
    RAISE EXCEPTION 'rename_series: series % already is (site %, asset %, sensor %, metric %): nothing to rename',
        cur.series_id, pg_catalog.to_json(cur.site_id), pg_catalog.to_json(cur.asset_id),
        pg_catalog.to_json(cur.sensor_id), pg_catalog.to_json(cur.metric)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT s.series_id INTO clash FROM telemetry.series s
   WHERE (s.site_id, s.asset_id, s.sensor_id, s.metric)
         = (new_site, new_asset, new_sensor, coalesce(rename_series.metric, cur.metric));
  IF FOUND THEN
    RAISE EXCEPTION 'rename_series: series % already has the identity (site %, asset %, sensor %, metric %)',
        clash, pg_catalog.to_json(new_site), pg_catalog.to_json(new_asset), pg_catalog.to_json(new_sensor),
        pg_catalog.to_json(coalesce(rename_series.metric, cur.metric))
      USING ERRCODE = 'unique_violation',
            HINT = 'Two series cannot share an identity. Choose another one; if both really are one sensor, their readings have to be merged by the owner of telemetry.readings.';
  END IF;

  -- Recorded first: the guard on telemetry.series lets exactly this change through.
  INSERT INTO telemetry.series_renames AS r
         (series_id, old_site_id, old_asset_id, old_sensor_id, old_metric,
          new_site_id, new_asset_id, new_sensor_id, new_metric, note)
  VALUES (cur.series_id, cur.site_id, cur.asset_id, cur.sensor_id, cur.metric,
          new_site, new_asset, new_sensor, coalesce(rename_series.metric, cur.metric), rename_series.note)
  RETURNING r.* INTO done;
  UPDATE telemetry.series s
     SET site_id = done.new_site_id, asset_id = done.new_asset_id,
         sensor_id = done.new_sensor_id, metric = done.new_metric
   WHERE s.series_id = cur.series_id;
  -- Like ingest, list a new site and asset in the registries for the DBA to describe.
  INSERT INTO telemetry.sites (site_id) VALUES (done.new_site_id) ON CONFLICT DO NOTHING;
  INSERT INTO telemetry.assets (site_id, asset_id) VALUES (done.new_site_id, done.new_asset_id) ON CONFLICT DO NOTHING;
  RETURN done;
END $$;
COMMENT ON FUNCTION telemetry.rename_series(integer, text, text, text, text, text) IS
  'rename_series(series_id, site_id => NULL, asset_id => NULL, sensor_id => NULL, metric => NULL, note => NULL): give a series a new identity (NULL keeps a field as it is), keeping its readings, and record the change in telemetry.series_renames, which it returns; a new site or asset is listed in telemetry.sites and telemetry.assets, as ingest does. Refuses an identity another series has (23505), a value the table would refuse or one with control characters (22023), a metric without a rule (23503) or with another canonical unit, since stored values are not converted (22023). Messages that still carry the old identity register a new series. For telemetry_admin.';

-- pg_dump keeps the record of renames.
SELECT pg_catalog.pg_extension_config_dump('telemetry.series_renames', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.series_renames_rename_id_seq', '');

-- 4. Its grants (the block at the end of sql/grants.sql).
-- Series identity (sql/series_identity.sql). A series is relabelled only through
-- telemetry.rename_series(), which records the change; telemetry_admin may call it (it has no
-- UPDATE on telemetry.series). Everyone who reads series may read the record of renames.
REVOKE ALL ON FUNCTION telemetry.rename_series(integer, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.rename_series(integer, text, text, text, text, text) TO telemetry_admin;
GRANT SELECT ON telemetry.series_renames TO telemetry_reader;
REVOKE ALL ON FUNCTION telemetry.series_guard() FROM PUBLIC;

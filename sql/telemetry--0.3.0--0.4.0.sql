-- telemetry 0.3.0 to 0.4.0: real devices in. Metrics no rule knows are registered unreviewed
-- (telemetry.metric_registrations, telemetry.metrics_to_review) and can be joined into a known
-- one (telemetry.merge_metric()); the shipped vocabulary moves to sql/vocabulary/ and is loaded
-- by telemetry.load_vocabulary(); aliases may imply a sensor; Sparkplug births keep engUnit,
-- engLow and engHigh (telemetry.sparkplug_metrics, replacing telemetry.sparkplug_aliases); the
-- ingest entry points name the edge nodes to ask for a rebirth; dead letters can be replayed
-- (telemetry.replay_dead_letters()). The functions' code comes with the new library.

-- First: the same check of the schema as at the top of sql/bootstrap.sql, then the same
-- pinned search_path as the install.
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

-- Rules the pipeline registers are unreviewed; aliases may name a sensor.
ALTER TABLE telemetry.metric_rules ADD COLUMN reviewed boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN telemetry.metric_rules.reviewed IS 'False for a metric the pipeline registered on first sight (telemetry.metrics_to_review): its readings are flagged no_rule and validated only against a range its source declared. Set it true once the rule is right.';
ALTER TABLE telemetry.metric_aliases ADD COLUMN sensor text CHECK (pg_catalog.length(sensor) BETWEEN 1 AND 128 AND sensor !~ '[[:cntrl:]]');
COMMENT ON COLUMN telemetry.metric_aliases.sensor IS 'A sensor the name implies (the phase of voltage_l1, the blade of pitch_angle_2), appended to the reading''s sensor with a /; NULL for none.';

-- telemetry::metrics::load_vocabulary
CREATE FUNCTION telemetry."load_vocabulary"() RETURNS TABLE (
	"metrics_added" bigint,  /* i64 */
	"aliases_added" bigint  /* i64 */
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'load_vocabulary_wrapper';

CREATE TABLE telemetry.metric_registrations (
    metric        text PRIMARY KEY REFERENCES telemetry.metric_rules (metric) ON UPDATE CASCADE ON DELETE CASCADE,
    first_seen    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    first_topic   text,
    units_seen    text[],
    example_value double precision
);
COMMENT ON TABLE telemetry.metric_registrations IS
  'How each metric the pipeline registered on first sight was first seen. Deleted with its rule.';
COMMENT ON COLUMN telemetry.metric_registrations.first_seen IS 'Transaction time of the batch that registered it.';
COMMENT ON COLUMN telemetry.metric_registrations.first_topic IS 'Topic of the first message that carried it (at most 1 kB).';
COMMENT ON COLUMN telemetry.metric_registrations.units_seen IS 'Units its readings came in, in that batch (resolved codes; 1 when a reading had none).';
COMMENT ON COLUMN telemetry.metric_registrations.example_value IS 'Its first value, in the unit of its rule.';

CREATE VIEW telemetry.metrics_to_review AS
SELECT m.metric, m.unit, u.dimension, r.first_seen, r.first_topic, r.units_seen, r.example_value,
       m.valid_min, m.valid_max,
       (SELECT pg_catalog.count(*) FROM telemetry.series s WHERE s.metric = m.metric) AS series
  FROM telemetry.metric_rules m
  JOIN telemetry.units u ON u.unit = m.unit
  LEFT JOIN telemetry.metric_registrations r ON r.metric = m.metric
 WHERE NOT m.reviewed;
COMMENT ON VIEW telemetry.metrics_to_review IS
  'Metrics the pipeline registered on first sight that no one has reviewed: their readings are stored flagged no_rule. Review one with UPDATE telemetry.metric_rules SET valid_min = ..., valid_max = ..., reviewed = true WHERE metric = ...; or, if it is another name for a known metric, SELECT * FROM telemetry.merge_metric(metric, into_metric).';

-- An alias named like a metric that has a rule would never be used (rules are matched first),
-- and a rule named like an alias would take its readings away from the alias's metric: either
-- splits a series history without a word. Both are refused with what to do instead.
CREATE FUNCTION telemetry.metric_name_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n bigint;
BEGIN
  IF TG_TABLE_NAME = 'metric_aliases' THEN
    IF EXISTS (SELECT FROM telemetry.metric_rules m WHERE m.metric = NEW.alias) THEN
      SELECT pg_catalog.count(*) INTO n FROM telemetry.series s WHERE s.metric = NEW.alias;
      RAISE EXCEPTION 'alias % is the name of a metric with a rule of its own (% series)', pg_catalog.to_json(NEW.alias), n
        USING ERRCODE = 'unique_violation',
              DETAIL = 'Rules are matched before aliases, so the alias would never be used, and readings of the two names would stay in separate series.',
              HINT = pg_catalog.format('SELECT * FROM telemetry.merge_metric(%L, %L) moves the series of %s into %s (converting their readings), deletes its rule and adds the alias.',
                                       NEW.alias, NEW.metric, NEW.alias, NEW.metric);
    END IF;
  ELSIF EXISTS (SELECT FROM telemetry.metric_aliases a WHERE a.alias = NEW.metric AND a.metric <> NEW.metric) THEN
    RAISE EXCEPTION 'metric % is an alias of %', pg_catalog.to_json(NEW.metric),
        (SELECT pg_catalog.to_json(a.metric) FROM telemetry.metric_aliases a WHERE a.alias = NEW.metric)
      USING ERRCODE = 'unique_violation',
            DETAIL = 'A rule of that name would take the readings of the alias into series of their own.',
            HINT = 'Delete the alias from telemetry.metric_aliases first if the name really is a metric of its own.';
  END IF;
  RETURN NEW;
END $$;
COMMENT ON FUNCTION telemetry.metric_name_guard() IS
  'Trigger function of telemetry.metric_aliases and telemetry.metric_rules: refuses an alias that is the name of a metric with a rule, and a rule that is the name of an alias, either of which would split a series history.';
CREATE TRIGGER name_guard BEFORE INSERT OR UPDATE OF alias ON telemetry.metric_aliases
  FOR EACH ROW EXECUTE FUNCTION telemetry.metric_name_guard();
COMMENT ON TRIGGER name_guard ON telemetry.metric_aliases IS 'An alias must not be the name of a metric with a rule of its own.';
CREATE TRIGGER name_guard BEFORE INSERT OR UPDATE OF metric ON telemetry.metric_rules
  FOR EACH ROW EXECUTE FUNCTION telemetry.metric_name_guard();
COMMENT ON TRIGGER name_guard ON telemetry.metric_rules IS 'A metric must not be named like an alias of another metric.';

-- SECURITY DEFINER: it rewrites readings and series, which telemetry_admin cannot; each series
-- change is recorded in telemetry.series_renames, as telemetry.rename_series() does, which is
-- what lets the guard on telemetry.series (sql/series_identity.sql) pass it.
CREATE FUNCTION telemetry.merge_metric(metric text, into_metric text, note text DEFAULT NULL)
RETURNS TABLE (series_renamed integer, series_merged integer, readings_moved bigint, readings_duplicate bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  src telemetry.metric_rules;
  dst telemetry.metric_rules;
  s telemetry.series;
  target integer;
  why text := coalesce(merge_metric.note, pg_catalog.format('merge_metric(%L, %L)', merge_metric.metric, into_metric));
  n bigint;
  total bigint;
BEGIN
  SELECT * INTO src FROM telemetry.metric_rules m WHERE m.metric = merge_metric.metric FOR UPDATE;
  SELECT * INTO dst FROM telemetry.metric_rules m WHERE m.metric = into_metric FOR UPDATE;
  IF src IS NULL OR dst IS NULL OR src.metric = dst.metric THEN
    RAISE EXCEPTION 'merge_metric: % and % must be two metrics of telemetry.metric_rules',
        pg_catalog.to_json(merge_metric.metric), pg_catalog.to_json(into_metric)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (SELECT u.dimension FROM telemetry.units u WHERE u.unit = src.unit)
     IS DISTINCT FROM (SELECT u.dimension FROM telemetry.units u WHERE u.unit = dst.unit) THEN
    RAISE EXCEPTION 'merge_metric: % is in % and % in %, units of different dimensions',
        pg_catalog.to_json(src.metric), src.unit, pg_catalog.to_json(dst.metric), dst.unit
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  series_renamed := 0; series_merged := 0; readings_moved := 0; readings_duplicate := 0;
  FOR s IN SELECT * FROM telemetry.series x WHERE x.metric = src.metric ORDER BY x.series_id FOR UPDATE LOOP
    IF src.unit <> dst.unit THEN
      UPDATE telemetry.readings r SET value = telemetry.convert(r.value, src.unit, dst.unit)
       WHERE r.series_id = s.series_id;
    END IF;
    SELECT x.series_id INTO target FROM telemetry.series x
     WHERE (x.site_id, x.asset_id, x.sensor_id, x.metric) = (s.site_id, s.asset_id, s.sensor_id, dst.metric);
    IF target IS NULL THEN
      INSERT INTO telemetry.series_renames (series_id, old_site_id, old_asset_id, old_sensor_id, old_metric,
                                            new_site_id, new_asset_id, new_sensor_id, new_metric, note)
      VALUES (s.series_id, s.site_id, s.asset_id, s.sensor_id, s.metric,
              s.site_id, s.asset_id, s.sensor_id, dst.metric, why);
      UPDATE telemetry.series x SET metric = dst.metric WHERE x.series_id = s.series_id;
      series_renamed := series_renamed + 1;
      CONTINUE;
    END IF;
    -- Both names had a series here: one history, so the readings join the existing series. A
    -- time both hold with different values cannot be joined without losing one of them.
    IF EXISTS (SELECT FROM telemetry.readings a JOIN telemetry.readings b ON b.time = a.time
                WHERE a.series_id = s.series_id AND b.series_id = target AND a.value <> b.value) THEN
      RAISE EXCEPTION 'merge_metric: series % and % hold different values at the same time', s.series_id, target
        USING ERRCODE = 'unique_violation',
              HINT = 'Compare them (SELECT ... FROM telemetry.readings WHERE series_id IN (...)) and delete the wrong readings first.';
    END IF;
    SELECT pg_catalog.count(*) INTO total FROM telemetry.readings r WHERE r.series_id = s.series_id;
    INSERT INTO telemetry.readings (time, ingested_at, value, series_id, quality, flags, source_quality)
    SELECT r.time, r.ingested_at, r.value, target, r.quality, r.flags, r.source_quality
      FROM telemetry.readings r WHERE r.series_id = s.series_id
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    readings_moved := readings_moved + n;
    readings_duplicate := readings_duplicate + (total - n);
    DELETE FROM telemetry.readings r WHERE r.series_id = s.series_id;
    INSERT INTO telemetry.series_renames (series_id, old_site_id, old_asset_id, old_sensor_id, old_metric,
                                          new_site_id, new_asset_id, new_sensor_id, new_metric, note)
    VALUES (s.series_id, s.site_id, s.asset_id, s.sensor_id, s.metric,
            s.site_id, s.asset_id, s.sensor_id, dst.metric, why || pg_catalog.format(' (joined series %s)', target));
    DELETE FROM telemetry.series x WHERE x.series_id = s.series_id;
    series_merged := series_merged + 1;
  END LOOP;
  UPDATE telemetry.metric_aliases a SET metric = dst.metric WHERE a.metric = src.metric;
  DELETE FROM telemetry.metric_rules m WHERE m.metric = src.metric;
  INSERT INTO telemetry.metric_aliases (alias, metric) VALUES (src.metric, dst.metric);
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION telemetry.merge_metric(text, text, text) IS
  'merge_metric(metric, into_metric, note => NULL): join a metric into another of the same dimension, once it turns out to be a vendor name for it: each of its series is relabelled to into_metric (or, where a series of into_metric already exists for the same site, asset and sensor, its readings join that one), its readings are converted to the unit of into_metric, every change is recorded in telemetry.series_renames, its rule is deleted and its name becomes an alias. Returns how many series were relabelled and joined, and how many readings moved or were exact duplicates. Refuses metrics of different dimensions and series that disagree at the same time (22023, 23505). For telemetry_admin.';

-- pg_dump keeps how each registered metric was first seen.
SELECT pg_catalog.pg_extension_config_dump('telemetry.metric_registrations', '');

-- The shipped vocabulary grew (solar, wind, batteries, grid, weather, pumps, barns). GHI and
-- POA irradiance have metrics of their own now; where readings of them are stored under
-- irradiance already, their aliases stay there rather than split those series, and a NOTICE
-- says how to move them.
SELECT * FROM telemetry.load_vocabulary();
DO $$
BEGIN
  IF EXISTS (SELECT FROM telemetry.series s WHERE s.metric = 'irradiance') THEN
    RAISE NOTICE 'ghi and poa_irradiance stay aliases of irradiance here, because series of irradiance exist; 0.4.0 has the metrics global_horizontal_irradiance and plane_of_array_irradiance for them. To move a series: SELECT telemetry.rename_series(series_id, metric => ...); then UPDATE telemetry.metric_aliases SET metric = ... WHERE alias IN (''ghi'', ''poa_irradiance'').';
  ELSE
    UPDATE telemetry.metric_aliases a SET metric = v.metric
      FROM (VALUES ('ghi', 'global_horizontal_irradiance'), ('poa_irradiance', 'plane_of_array_irradiance')) AS v (alias, metric)
     WHERE a.alias = v.alias AND a.metric = 'irradiance' AND a.builtin;
  END IF;
END $$;

-- Sparkplug: a birth's declarations by metric name, with their properties and time of birth.
CREATE TABLE telemetry.sparkplug_metrics (
    group_id     text NOT NULL,
    edge_node_id text NOT NULL,
    device_id    text NOT NULL,
    metric       text NOT NULL,
    alias        numeric(20) CHECK (alias BETWEEN 0 AND 18446744073709551615),
    unit         text,
    eng_low      double precision,
    eng_high     double precision,
    born_at      timestamptz NOT NULL,
    PRIMARY KEY (group_id, edge_node_id, device_id, metric),
    UNIQUE (group_id, edge_node_id, device_id, alias)
);
COMMENT ON TABLE telemetry.sparkplug_metrics IS
  'The metrics declared by the last Sparkplug B birth (NBIRTH, DBIRTH) of each edge node and device: their aliases, which DATA messages name them by, and the properties the pipeline uses (engUnit, engLow, engHigh).';
COMMENT ON COLUMN telemetry.sparkplug_metrics.group_id IS 'Sparkplug group; the site of its readings.';
COMMENT ON COLUMN telemetry.sparkplug_metrics.edge_node_id IS 'Sparkplug edge node; the asset of its readings.';
COMMENT ON COLUMN telemetry.sparkplug_metrics.device_id IS 'Empty for the metrics of the edge node itself.';
COMMENT ON COLUMN telemetry.sparkplug_metrics.metric IS 'The metric name as the birth declared it (folders included).';
COMMENT ON COLUMN telemetry.sparkplug_metrics.alias IS 'The numeric alias as DATA messages send it: any unsigned 64-bit integer; NULL when the birth gave none.';
COMMENT ON COLUMN telemetry.sparkplug_metrics.unit IS 'The engUnit property: the unit of its values unless a DATA message says otherwise.';
COMMENT ON COLUMN telemetry.sparkplug_metrics.eng_low IS 'The engLow property, in that unit: the range registers with the metric when the pipeline registers it.';
COMMENT ON COLUMN telemetry.sparkplug_metrics.eng_high IS 'The engHigh property, in that unit.';
COMMENT ON COLUMN telemetry.sparkplug_metrics.born_at IS 'When the birth arrived: an older birth (redelivered, or replayed) does not replace a newer one.';
INSERT INTO telemetry.sparkplug_metrics (group_id, edge_node_id, device_id, metric, alias, born_at)
SELECT DISTINCT ON (group_id, edge_node_id, device_id, metric) group_id, edge_node_id, device_id, metric, alias, pg_catalog.now()
  FROM telemetry.sparkplug_aliases
 ORDER BY group_id, edge_node_id, device_id, metric, alias;
DROP TABLE telemetry.sparkplug_aliases;

-- The ingest entry points return the edge nodes to ask for a rebirth as well.
DROP FUNCTION telemetry.ingest(text, bytea, timestamptz);
DROP FUNCTION telemetry.ingest_staged();
-- telemetry::ingest::ingest
CREATE FUNCTION telemetry."ingest"(
	"topic" TEXT, /* Option < & str > */
	"payload" bytea, /* Option < & [u8] > */
	"received_at" timestamp with time zone DEFAULT now() /* Option < TimestampWithTimeZone > */
) RETURNS TABLE (
	"messages" INT,  /* i32 */
	"readings" INT,  /* i32 */
	"duplicates" INT,  /* i32 */
	"conflicting_duplicates" INT,  /* i32 */
	"dead_letters" INT,  /* i32 */
	"dead_letter_reasons" jsonb,  /* pgrx :: JsonB */
	"oldest_reading" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"newest_reading" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"rebirth_nodes" TEXT[]  /* Vec < String > */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'ingest_wrapper';
-- telemetry::staging::ingest_staged
CREATE FUNCTION telemetry."ingest_staged"() RETURNS TABLE (
	"messages" INT,  /* i32 */
	"readings" INT,  /* i32 */
	"duplicates" INT,  /* i32 */
	"conflicting_duplicates" INT,  /* i32 */
	"dead_letters" INT,  /* i32 */
	"dead_letter_reasons" jsonb,  /* pgrx :: JsonB */
	"oldest_reading" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"newest_reading" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"rebirth_nodes" TEXT[]  /* Vec < String > */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'ingest_staged_wrapper';
-- telemetry::replay::replay_dead_letters
CREATE FUNCTION telemetry."replay_dead_letters"(
	"reason" TEXT DEFAULT NULL, /* Option < & str > */
	"topic_like" TEXT DEFAULT NULL, /* Option < & str > */
	"received_after" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"received_before" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"batch_size" INT DEFAULT 1000 /* i32 */
) RETURNS TABLE (
	"messages" INT,  /* i32 */
	"readings" INT,  /* i32 */
	"duplicates" INT,  /* i32 */
	"conflicting_duplicates" INT,  /* i32 */
	"dead_letters" INT,  /* i32 */
	"dead_letter_reasons" jsonb,  /* pgrx :: JsonB */
	"oldest_reading" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"newest_reading" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"rebirth_nodes" TEXT[],  /* Vec < String > */
	"not_replayable" bigint  /* i64 */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'replay_dead_letters_wrapper';

-- Grants (as in sql/grants.sql).
GRANT SELECT ON telemetry.sparkplug_metrics, telemetry.metric_registrations, telemetry.metrics_to_review TO telemetry_reader;
GRANT SELECT, INSERT, DELETE ON telemetry.sparkplug_metrics TO telemetry_pipeline;
GRANT INSERT ON telemetry.metric_rules, telemetry.metric_registrations TO telemetry_pipeline;
GRANT SELECT, DELETE ON telemetry.dead_letter_messages TO telemetry_pipeline;
GRANT SELECT ON telemetry.dead_letters TO telemetry_pipeline;
DO $$
DECLARE f text;
BEGIN
  FOREACH f IN ARRAY ARRAY['telemetry.ingest(text, bytea, timestamptz)', 'telemetry.ingest_staged()',
                           'telemetry.replay_dead_letters(text, text, timestamptz, timestamptz, integer)'] LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO telemetry_pipeline', f);
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION telemetry.ingest(text, bytea, timestamptz), telemetry.ingest_staged() TO telemetry_writer;
REVOKE ALL ON FUNCTION telemetry.metric_name_guard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.replay_dead_letters(text, text, timestamptz, timestamptz, integer) TO telemetry_admin;
REVOKE ALL ON FUNCTION telemetry.load_vocabulary(), telemetry.merge_metric(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.load_vocabulary(), telemetry.merge_metric(text, text, text) TO telemetry_admin;

-- Comments (as in sql/function_comments.sql).
COMMENT ON FUNCTION telemetry.ingest(text, bytea, timestamptz) IS
  'ingest(topic, payload, received_at => now()): run one MQTT message (a NULL topic or payload becomes a dead letter too) through the pipeline (route, decode, convert, validate, score, de-duplicate, store) exactly as a batch would. Returns the counts, the dead letters by reason (jsonb), the source times of the oldest and newest reading stored, and the Sparkplug edge nodes (group/edge_node) whose data named an alias no birth declared, which a host application asks for a rebirth. Nothing is dropped silently: what is not stored is in telemetry.dead_letters.';
COMMENT ON FUNCTION telemetry.ingest_staged() IS
  'ingest_staged(): run every message in pg_temp.telemetry_staging through the pipeline in arrival order, empty the table, and return what telemetry.ingest returns for the whole batch: counts, dead letters by reason, source times of the oldest and newest reading stored, Sparkplug edge nodes to ask for a rebirth. Call it in the transaction that filled the table.';
COMMENT ON FUNCTION telemetry.replay_dead_letters(text, text, timestamptz, timestamptz, integer) IS
  'replay_dead_letters(reason => NULL, topic_like => NULL, received_after => NULL, received_before => NULL, batch_size => 1000): run stored dead letters through the pipeline again (NULL filters match all), for example after adding the rule, alias, unit or route they lacked. Each replayed message leaves the dead letters; what fails again is dead-lettered anew, and a reading stored before counts as a duplicate, so nothing is stored twice however often a message is replayed. Returns what telemetry.ingest returns for them all, and how many chosen messages could not be replayed because their dead letter cut the topic or payload. For telemetry_admin.';
COMMENT ON FUNCTION telemetry.load_vocabulary() IS
  'load_vocabulary(): add the shipped metric rules and vendor names that are missing (as builtin rows), keeping every edit of a DBA. Returns how many were added; a shipped alias that is already a metric of its own is skipped and named in a NOTICE. For telemetry_admin.';

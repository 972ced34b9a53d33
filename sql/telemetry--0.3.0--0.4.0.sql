-- telemetry 0.3.0 to 0.4.0: real devices in. Metrics no rule knows are registered unreviewed
-- (telemetry.metric_registrations, telemetry.metrics_to_review) and can be joined into a known
-- one (telemetry.merge_metric()); the shipped vocabulary moves to sql/vocabulary/ and is loaded
-- by telemetry.load_vocabulary(); aliases may imply a sensor; Sparkplug births keep engUnit,
-- engLow and engHigh (telemetry.sparkplug_metrics, replacing telemetry.sparkplug_aliases); the
-- ingest entry points name the edge nodes to ask for a rebirth; dead letters can be replayed
-- (telemetry.replay_dead_letters()); alarms (sql/alarms.sql). The functions' code comes with
-- the new library.

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

-- Alarms: the Rust functions first (the tables' trigger needs its function), then sql/alarms.sql.
-- telemetry::alarms::rules::alarm_rule_check
CREATE FUNCTION telemetry."alarm_rule_check"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'alarm_rule_check_wrapper';
-- telemetry::alarms::acknowledge
CREATE FUNCTION telemetry."acknowledge"(
	"rule_id" bigint, /* i64 */
	"series_id" INT, /* i32 */
	"note" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TEXT /* String */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'acknowledge_wrapper';
-- telemetry::alarms::shelve
CREATE FUNCTION telemetry."shelve"(
	"rule_id" bigint, /* i64 */
	"series_id" INT, /* i32 */
	"until" timestamp with time zone, /* TimestampWithTimeZone */
	"note" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TEXT /* String */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'shelve_wrapper';
-- telemetry::alarms::unshelve
CREATE FUNCTION telemetry."unshelve"(
	"rule_id" bigint, /* i64 */
	"series_id" INT, /* i32 */
	"note" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TEXT /* String */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'unshelve_wrapper';
-- telemetry::alarms::set_out_of_service
CREATE FUNCTION telemetry."set_out_of_service"(
	"rule_id" bigint, /* i64 */
	"series_id" INT, /* i32 */
	"out_of_service" bool DEFAULT true, /* bool */
	"note" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TEXT /* String */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'set_out_of_service_wrapper';
-- telemetry::alarms::maintenance::run_maintenance
CREATE FUNCTION telemetry."run_maintenance"() RETURNS TABLE (
	"alarm_states" bigint,  /* i64 */
	"alarm_events" bigint  /* i64 */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'run_maintenance_wrapper';
-- telemetry::alarms::performance::alarm_performance
CREATE FUNCTION telemetry."alarm_performance"(
	"period_start" timestamp with time zone, /* TimestampWithTimeZone */
	"period_end" timestamp with time zone /* TimestampWithTimeZone */
) RETURNS TABLE (
	"site_id" TEXT,  /* String */
	"alarms" bigint,  /* i64 */
	"alarms_per_10_minutes" double precision,  /* f64 */
	"flood_percent" double precision,  /* f64 */
	"peak_10_minutes" bigint  /* i64 */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'alarm_performance_wrapper';
-- telemetry::alarms::performance::alarm_report
CREATE FUNCTION telemetry."alarm_report"(
	"period_start" timestamp with time zone, /* TimestampWithTimeZone */
	"period_end" timestamp with time zone /* TimestampWithTimeZone */
) RETURNS TABLE (
	"figure" TEXT,  /* String */
	"rule_id" bigint,  /* Option < i64 > */
	"series_id" bigint,  /* Option < i64 > */
	"severity" TEXT,  /* Option < String > */
	"n" bigint,  /* Option < i64 > */
	"percent" double precision,  /* Option < f64 > */
	"since" timestamp with time zone  /* Option < TimestampWithTimeZone > */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'alarm_report_wrapper';
-- telemetry::alarms::trigger::alarm_trigger
CREATE FUNCTION telemetry."alarm_trigger"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'alarm_trigger_wrapper';

CREATE TABLE telemetry.alarm_rules (
    rule_id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name               text NOT NULL UNIQUE CHECK (pg_catalog.length(name) BETWEEN 1 AND 128),
    kind               text NOT NULL,
    severity           text NOT NULL,
    site_id            text,
    asset_id           text,
    sensor_id          text,
    metric             text,
    series_id          integer,
    limit_value        double precision,
    epsilon            double precision,
    after              interval,
    window_samples     integer,
    warmup_samples     integer,
    z                  double precision,
    source_quality     smallint,
    deadband           double precision,
    deadband_percent   double precision,
    on_delay           interval,
    on_delay_samples   integer,
    off_delay          interval,
    off_delay_samples  integer,
    realarm_after      interval,
    suppression_window interval,
    suppresses         text[],
    cause              text,
    consequence        text,
    action             text,
    enabled            boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE telemetry.alarm_rules IS
  'Alarm rules: what to watch (scope), when it is abnormal (kind and its parameters, deadband, delays), how urgent it is (severity) and what it means (cause, consequence, action). Checked on every change by telemetry.alarm_rule_check(); telemetry.add_alarm_rule() and telemetry.enable_alarm_rule() are the helpers.';
COMMENT ON COLUMN telemetry.alarm_rules.rule_id IS 'Identity of the rule; alarm states and events name it.';
COMMENT ON COLUMN telemetry.alarm_rules.name IS 'A name operators know it by, unique.';
COMMENT ON COLUMN telemetry.alarm_rules.kind IS 'high_high, high, low, low_low (one limit each, as ISA-18.2 has one alarm per limit), rate_of_change, stale, flat_line, bad_quality or anomaly.';
COMMENT ON COLUMN telemetry.alarm_rules.severity IS 'critical, high, medium, low or info (seed 004); an anomaly rule raises by the band of its z-score instead.';
COMMENT ON COLUMN telemetry.alarm_rules.site_id IS 'Scope: the site it watches; NULL for every site. Scope columns that are not NULL must all match.';
COMMENT ON COLUMN telemetry.alarm_rules.asset_id IS 'Scope: the asset; NULL for every asset.';
COMMENT ON COLUMN telemetry.alarm_rules.sensor_id IS 'Scope: the sensor; NULL for every sensor.';
COMMENT ON COLUMN telemetry.alarm_rules.metric IS 'Scope: a canonical metric, or a LIKE pattern of them (temperature, %_temperature); NULL for every metric.';
COMMENT ON COLUMN telemetry.alarm_rules.series_id IS 'Scope: one series; NULL for every series the other scope columns match.';
COMMENT ON COLUMN telemetry.alarm_rules.limit_value IS 'The limit of a limit rule, in the canonical unit of the metric; the largest change per second of a rate_of_change rule.';
COMMENT ON COLUMN telemetry.alarm_rules.epsilon IS 'flat_line: the change that still counts as unchanged (default 0).';
COMMENT ON COLUMN telemetry.alarm_rules.after IS 'stale: no reading for this long; flat_line: unchanged for this long.';
COMMENT ON COLUMN telemetry.alarm_rules.window_samples IS 'anomaly: readings the rolling statistics weigh (default 100).';
COMMENT ON COLUMN telemetry.alarm_rules.warmup_samples IS 'anomaly: readings before any is judged (default 10).';
COMMENT ON COLUMN telemetry.alarm_rules.z IS 'anomaly: the z-score above which a reading is abnormal (default 3, seeds 002 and 003).';
COMMENT ON COLUMN telemetry.alarm_rules.source_quality IS 'bad_quality: the source quality from which it raises, 1 uncertain or 2 bad (default 2).';
COMMENT ON COLUMN telemetry.alarm_rules.deadband IS 'Limit rules: how far back past the limit the value must go to clear, in the canonical unit.';
COMMENT ON COLUMN telemetry.alarm_rules.deadband_percent IS 'Limit rules: the deadband as a percentage of the metric''s valid range (telemetry.metric_rules); not with deadband.';
COMMENT ON COLUMN telemetry.alarm_rules.on_delay IS 'The condition must hold this long to raise (or on_delay_samples readings, whichever comes first).';
COMMENT ON COLUMN telemetry.alarm_rules.on_delay_samples IS 'The condition must hold for this many readings to raise.';
COMMENT ON COLUMN telemetry.alarm_rules.off_delay IS 'The condition must be gone this long to clear (or off_delay_samples readings).';
COMMENT ON COLUMN telemetry.alarm_rules.off_delay_samples IS 'The condition must be gone for this many readings to clear.';
COMMENT ON COLUMN telemetry.alarm_rules.realarm_after IS 'An alarm acknowledged and still active this long becomes unacknowledged again.';
COMMENT ON COLUMN telemetry.alarm_rules.suppression_window IS 'Once raised, the alarm stays active at least this long, so a flapping signal raises one alarm (NULL: 60 s, seed 004).';
COMMENT ON COLUMN telemetry.alarm_rules.suppresses IS 'Suppression by design: while this rule is active on a series, the rules of these kinds are suppressed on every series of its site (a communication loss suppressing the site''s stale alarms).';
COMMENT ON COLUMN telemetry.alarm_rules.cause IS 'Rationalisation: the likely cause.';
COMMENT ON COLUMN telemetry.alarm_rules.consequence IS 'Rationalisation: what happens if no one acts.';
COMMENT ON COLUMN telemetry.alarm_rules.action IS 'Rationalisation: what the operator should do.';
COMMENT ON COLUMN telemetry.alarm_rules.enabled IS 'A disabled rule is not evaluated (shelving still expires).';
COMMENT ON SEQUENCE telemetry.alarm_rules_rule_id_seq IS 'Identity of telemetry.alarm_rules.rule_id.';

CREATE TRIGGER alarm_rule_check BEFORE INSERT OR UPDATE ON telemetry.alarm_rules
  FOR EACH ROW EXECUTE FUNCTION telemetry.alarm_rule_check();
COMMENT ON TRIGGER alarm_rule_check ON telemetry.alarm_rules IS 'Refuses a rule its kind cannot use (a missing limit, a parameter of another kind, a negative delay), with the column and why.';
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON telemetry.alarm_rules
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.registry_changed();
COMMENT ON TRIGGER registry_changed ON telemetry.alarm_rules IS 'Invalidates the cached rules of every session when this table changes.';

CREATE TABLE telemetry.alarm_states (
    rule_id          bigint NOT NULL REFERENCES telemetry.alarm_rules (rule_id) ON DELETE CASCADE,
    series_id        integer NOT NULL,
    status           text NOT NULL DEFAULT 'normal',
    condition_active boolean NOT NULL DEFAULT false,
    unacknowledged   boolean NOT NULL DEFAULT false,
    severity         text,
    raised_at        timestamptz,
    unacked_at       timestamptz,
    acked_at         timestamptz,
    escalation_level smallint NOT NULL DEFAULT 0,
    shelved_until    timestamptz,
    suppressed       boolean NOT NULL DEFAULT false,
    out_of_service   boolean NOT NULL DEFAULT false,
    pending_since    timestamptz,
    pending_samples  integer NOT NULL DEFAULT 0,
    last_time        timestamptz,
    last_value       double precision,
    last_value_at    timestamptz,
    flat_since       timestamptz,
    flat_value       double precision,
    stats_n          integer NOT NULL DEFAULT 0,
    stats_mean       double precision NOT NULL DEFAULT 0,
    stats_var        double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, series_id)
);
CREATE INDEX ON telemetry.alarm_states (status) WHERE status <> 'normal';
-- Sessions cache which (rule, series) have a row; rows are only added and removed in bulk.
CREATE TRIGGER registry_changed AFTER INSERT OR DELETE OR TRUNCATE ON telemetry.alarm_states
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.registry_changed();
COMMENT ON TRIGGER registry_changed ON telemetry.alarm_states IS 'Tells every session that the set of alarm states changed: each caches which (rule, series) have one.';
COMMENT ON TABLE telemetry.alarm_states IS
  'The state of each rule on each series where it has had a transition (a series without a row is normal), ISA-18.2: normal, unacknowledged, acknowledged, returned_unacknowledged, or the modes shelved, suppressed, out_of_service. Written only by the pipeline, the maintenance run and the operator functions.';
COMMENT ON COLUMN telemetry.alarm_states.status IS 'What an operator sees: the mode if any (out_of_service, then shelved, then suppressed), else the alarm state.';
COMMENT ON COLUMN telemetry.alarm_states.condition_active IS 'The abnormal condition holds (after deadband, delays and the suppression window), annunciated or not.';
COMMENT ON COLUMN telemetry.alarm_states.rule_id IS 'The rule.';
COMMENT ON COLUMN telemetry.alarm_states.series_id IS 'The series it watches.';
COMMENT ON COLUMN telemetry.alarm_states.unacknowledged IS 'Annunciated and not acknowledged since (always false outside service).';
COMMENT ON COLUMN telemetry.alarm_states.severity IS 'Severity of the current or last condition.';
COMMENT ON COLUMN telemetry.alarm_states.raised_at IS 'When the condition last became active or was annunciated on a return to service; the suppression window runs from here.';
COMMENT ON COLUMN telemetry.alarm_states.unacked_at IS 'When it became unacknowledged (raise or re-alarm); escalation delays run from here.';
COMMENT ON COLUMN telemetry.alarm_states.acked_at IS 'When it was last acknowledged while active; the re-alarm delay runs from here.';
COMMENT ON COLUMN telemetry.alarm_states.escalation_level IS 'The highest escalation level notified since unacked_at (0: none).';
COMMENT ON COLUMN telemetry.alarm_states.shelved_until IS 'Shelved until this time (NULL: not shelved).';
COMMENT ON COLUMN telemetry.alarm_states.suppressed IS 'Suppressed by design (another rule''s alarm on its site).';
COMMENT ON COLUMN telemetry.alarm_states.out_of_service IS 'Taken out of service by an operator.';
COMMENT ON COLUMN telemetry.alarm_states.pending_since IS 'A raise or clear waiting for its on-delay or off-delay since this time.';
COMMENT ON COLUMN telemetry.alarm_states.pending_samples IS 'Readings the pending raise or clear has held for.';
COMMENT ON COLUMN telemetry.alarm_states.last_value IS 'The last finite value (rate of change, stale).';
COMMENT ON COLUMN telemetry.alarm_states.last_value_at IS 'The source time of last_value.';
COMMENT ON COLUMN telemetry.alarm_states.flat_since IS 'flat_line: since when the value has stayed within epsilon of flat_value.';
COMMENT ON COLUMN telemetry.alarm_states.flat_value IS 'flat_line: the value it has stayed at.';
COMMENT ON COLUMN telemetry.alarm_states.stats_n IS 'anomaly: readings in the rolling statistics (at most the window).';
COMMENT ON COLUMN telemetry.alarm_states.stats_mean IS 'anomaly: their mean.';
COMMENT ON COLUMN telemetry.alarm_states.stats_var IS 'anomaly: their population variance.';
COMMENT ON COLUMN telemetry.alarm_states.last_time IS 'Readings at or before this source time are late for this rule and neither raise nor clear.';

-- Every transition. The events of one (rule, series) are in the order they happened; the
-- event id is stable, so receivers of the MQTT messages drop repeats by it.
CREATE TABLE telemetry.alarm_events (
    time        timestamptz NOT NULL,
    event_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    rule_id     bigint NOT NULL,
    series_id   integer NOT NULL,
    kind        text NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    value       double precision,
    severity    text,
    actor       text,
    note        text,
    level       smallint,
    target      text,
    method      text
);
CREATE INDEX ON telemetry.alarm_events (rule_id, series_id, time);
CREATE INDEX ON telemetry.alarm_events (event_id);
COMMENT ON TABLE telemetry.alarm_events IS
  'Every alarm transition (a hypertable, 7-day chunks): raise, clear, acknowledge, realarm, shelve, unshelve, suppress, unsuppress, out_of_service, return_to_service, escalate; from which status to which, the value and severity, who (operator actions) and why.';
COMMENT ON COLUMN telemetry.alarm_events.time IS 'The source time of the reading that caused it, or when the action or maintenance run took place.';
COMMENT ON COLUMN telemetry.alarm_events.event_id IS 'Stable identity, sent with the MQTT message so that receivers can drop repeats.';
COMMENT ON COLUMN telemetry.alarm_events.recorded_at IS 'When the transaction that recorded it began.';
COMMENT ON COLUMN telemetry.alarm_events.rule_id IS 'The rule.';
COMMENT ON COLUMN telemetry.alarm_events.series_id IS 'The series.';
COMMENT ON COLUMN telemetry.alarm_events.kind IS 'raise, clear, acknowledge, realarm, shelve, unshelve, suppress, unsuppress, out_of_service, return_to_service or escalate.';
COMMENT ON COLUMN telemetry.alarm_events.from_status IS 'The status before.';
COMMENT ON COLUMN telemetry.alarm_events.to_status IS 'The status after.';
COMMENT ON COLUMN telemetry.alarm_events.value IS 'The value that caused it, in the canonical unit of the metric.';
COMMENT ON COLUMN telemetry.alarm_events.severity IS 'The severity of the alarm.';
COMMENT ON COLUMN telemetry.alarm_events.note IS 'Why, as the operator gave it.';
COMMENT ON COLUMN telemetry.alarm_events.target IS 'escalate: whom to notify.';
COMMENT ON COLUMN telemetry.alarm_events.method IS 'escalate: how (email, sms, phone, webhook).';
COMMENT ON COLUMN telemetry.alarm_events.actor IS 'The login role (session_user) of an operator action; NULL for the pipeline and maintenance.';
COMMENT ON COLUMN telemetry.alarm_events.level IS 'escalate: the level that fell due, with its target and method.';
COMMENT ON SEQUENCE telemetry.alarm_events_event_id_seq IS 'Identity of telemetry.alarm_events.event_id.';
DO $$
BEGIN
  IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
    EXECUTE pg_catalog.format(
      'SELECT %1$I.create_hypertable(%2$L::pg_catalog.regclass, %1$I.by_range(%3$L::pg_catalog.name, interval %4$L),
                                     false, false, false)',
      (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'timescaledb'),
      'telemetry.alarm_events', 'time', '7 days');
  END IF;
END $$;

-- The outbox: events not yet confirmed by the broker. The shim takes them in event order,
-- publishes each with QoS 1 and deletes it once the broker has acknowledged it.
CREATE TABLE telemetry.alarm_outbox (
    event_id bigint PRIMARY KEY,
    time     timestamptz NOT NULL,
    severity text
);
COMMENT ON TABLE telemetry.alarm_outbox IS
  'Alarm events the shim has not yet seen confirmed by the broker (QoS 1 PUBACK); it deletes each once confirmed. Filled with every event, in the event''s transaction.';
COMMENT ON COLUMN telemetry.alarm_outbox.event_id IS 'The event in telemetry.alarm_events.';
COMMENT ON COLUMN telemetry.alarm_outbox.time IS 'Its time, to find it in the hypertable.';
COMMENT ON COLUMN telemetry.alarm_outbox.severity IS 'Its severity: critical events go first.';

CREATE TABLE telemetry.escalation_levels (
    severity text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
    level    smallint NOT NULL CHECK (level >= 1),
    delay    interval NOT NULL CHECK (delay >= interval '0'),
    target   text NOT NULL CHECK (pg_catalog.length(target) BETWEEN 1 AND 256),
    method   text NOT NULL CHECK (method IN ('email', 'sms', 'phone', 'webhook')),
    PRIMARY KEY (severity, level)
);
COMMENT ON TABLE telemetry.escalation_levels IS
  'Escalation, seed 004 section 6.3: while an alarm of a severity stays unacknowledged, each level falls due after its delay (an escalate event, once), lowest first.';
COMMENT ON COLUMN telemetry.escalation_levels.severity IS 'The severity the level is for.';
COMMENT ON COLUMN telemetry.escalation_levels.level IS '1, 2, ...: the order of the levels of a severity.';
COMMENT ON COLUMN telemetry.escalation_levels.delay IS 'Since the alarm became unacknowledged; levels of one severity must not get shorter delays as they rise.';
COMMENT ON COLUMN telemetry.escalation_levels.target IS 'Whom to notify (a team, an address, a number).';
COMMENT ON COLUMN telemetry.escalation_levels.method IS 'email, sms, phone or webhook.';

CREATE VIEW telemetry.active_alarms AS
SELECT st.rule_id, r.name AS rule, st.series_id, s.site_id, s.asset_id, s.sensor_id, s.metric,
       st.status, st.severity, st.raised_at, st.unacked_at, st.acked_at, st.last_value,
       st.escalation_level, st.shelved_until, r.cause, r.consequence, r.action
  FROM telemetry.alarm_states st
  JOIN telemetry.alarm_rules r ON r.rule_id = st.rule_id
  JOIN telemetry.series s ON s.series_id = st.series_id
 WHERE st.status <> 'normal';
COMMENT ON VIEW telemetry.active_alarms IS
  'Every alarm not at normal: active (acknowledged or not), returned but unacknowledged, shelved, suppressed or out of service, with what it means and what to do.';

CREATE VIEW telemetry.standing_alarms AS
SELECT s.site_id, st.severity, st.status, pg_catalog.count(*) AS alarms, pg_catalog.min(st.raised_at) AS oldest
  FROM telemetry.alarm_states st JOIN telemetry.series s ON s.series_id = st.series_id
 WHERE st.status IN ('unacknowledged', 'acknowledged', 'returned_unacknowledged')
 GROUP BY 1, 2, 3;
COMMENT ON VIEW telemetry.standing_alarms IS
  'The standing alarm list: per site, severity and status, how many alarms and since when the oldest.';

CREATE VIEW telemetry.escalations_due AS
SELECT st.rule_id, st.series_id, st.severity, l.level, l.target, l.method,
       st.unacked_at + l.delay AS due_at
  FROM telemetry.alarm_states st
  JOIN telemetry.escalation_levels l ON l.severity = st.severity AND l.level = st.escalation_level + 1
 WHERE st.status = 'unacknowledged';
COMMENT ON VIEW telemetry.escalations_due IS
  'Unacknowledged alarms and the next escalation level of each, with when it falls due; telemetry.run_maintenance() records it as an escalate event once due.';

-- pg_dump keeps the rules, the escalation levels and the history; states and the outbox are
-- kept too, so that a restored database neither raises again nor forgets to publish.
SELECT pg_catalog.pg_extension_config_dump('telemetry.alarm_rules', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.alarm_rules_rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.alarm_states', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.alarm_events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.alarm_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.escalation_levels', '');

-- Helpers for the DBA. Every change goes through the check trigger, so a helper refuses what
-- an INSERT or UPDATE would.
CREATE FUNCTION telemetry.add_alarm_rule(
    name text, kind text, severity text,
    limit_value double precision DEFAULT NULL,
    site_id text DEFAULT NULL, asset_id text DEFAULT NULL, sensor_id text DEFAULT NULL,
    metric text DEFAULT NULL, series_id integer DEFAULT NULL,
    after interval DEFAULT NULL, epsilon double precision DEFAULT NULL,
    deadband double precision DEFAULT NULL, deadband_percent double precision DEFAULT NULL,
    on_delay interval DEFAULT NULL, on_delay_samples integer DEFAULT NULL,
    off_delay interval DEFAULT NULL, off_delay_samples integer DEFAULT NULL,
    realarm_after interval DEFAULT NULL, suppression_window interval DEFAULT NULL,
    window_samples integer DEFAULT NULL, warmup_samples integer DEFAULT NULL,
    z double precision DEFAULT NULL, source_quality smallint DEFAULT NULL,
    suppresses text[] DEFAULT NULL,
    cause text DEFAULT NULL, consequence text DEFAULT NULL, action text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO telemetry.alarm_rules (name, kind, severity, limit_value, site_id, asset_id, sensor_id, metric,
      series_id, after, epsilon, deadband, deadband_percent, on_delay, on_delay_samples, off_delay,
      off_delay_samples, realarm_after, suppression_window, window_samples, warmup_samples, z,
      source_quality, suppresses, cause, consequence, action)
  VALUES ($1, pg_catalog.lower($2), pg_catalog.lower($3), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
          $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
  RETURNING rule_id
$$;
COMMENT ON FUNCTION telemetry.add_alarm_rule(text, text, text, double precision, text, text, text, text, integer, interval, double precision, double precision, double precision, interval, integer, interval, integer, interval, interval, integer, integer, double precision, smallint, text[], text, text, text) IS
  'add_alarm_rule(name, kind, severity, limit_value => NULL, site_id => NULL, ..., cause => NULL, consequence => NULL, action => NULL): add a rule (columns as in telemetry.alarm_rules; kind and severity in any case) and return its rule_id. A rule its kind cannot use is refused (22023) saying which column and why. For telemetry_admin.';

CREATE FUNCTION telemetry.change_alarm_rule(name text, changes jsonb)
RETURNS telemetry.alarm_rules
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  bad text;
  done telemetry.alarm_rules;
BEGIN
  SELECT pg_catalog.string_agg(k, ', ') INTO bad FROM pg_catalog.jsonb_object_keys(changes) AS k
   WHERE k NOT IN (SELECT a.attname FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = 'telemetry.alarm_rules'::pg_catalog.regclass AND a.attnum > 0
                      AND NOT a.attisdropped AND a.attname NOT IN ('rule_id', 'created_at'));
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'change_alarm_rule: % is not a column of telemetry.alarm_rules that can change', bad
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE telemetry.alarm_rules r
     SET (name, kind, severity, site_id, asset_id, sensor_id, metric, series_id, limit_value, epsilon, after,
          window_samples, warmup_samples, z, source_quality, deadband, deadband_percent, on_delay,
          on_delay_samples, off_delay, off_delay_samples, realarm_after, suppression_window, suppresses,
          cause, consequence, action, enabled)
       = (SELECT c.name, c.kind, c.severity, c.site_id, c.asset_id, c.sensor_id, c.metric, c.series_id,
                 c.limit_value, c.epsilon, c.after, c.window_samples, c.warmup_samples, c.z, c.source_quality,
                 c.deadband, c.deadband_percent, c.on_delay, c.on_delay_samples, c.off_delay,
                 c.off_delay_samples, c.realarm_after, c.suppression_window, c.suppresses, c.cause,
                 c.consequence, c.action, c.enabled
            FROM pg_catalog.jsonb_populate_record(r, changes) AS c)
   WHERE r.name = change_alarm_rule.name
  RETURNING r.* INTO done;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'change_alarm_rule: there is no alarm rule %', pg_catalog.to_json(change_alarm_rule.name)
      USING ERRCODE = 'invalid_parameter_value', HINT = 'The rules are in telemetry.alarm_rules.';
  END IF;
  RETURN done;
END $$;
COMMENT ON FUNCTION telemetry.change_alarm_rule(text, jsonb) IS
  'change_alarm_rule(name, changes): change the columns of a rule that changes names ({"limit_value": 950, "on_delay": "30 s"}; null sets a column NULL); returns the rule as it is now. Refuses an unknown column or a rule its kind cannot use (22023). For telemetry_admin.';

CREATE FUNCTION telemetry.enable_alarm_rule(name text, enabled boolean DEFAULT true)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  UPDATE telemetry.alarm_rules r SET enabled = enable_alarm_rule.enabled WHERE r.name = enable_alarm_rule.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'enable_alarm_rule: there is no alarm rule %', pg_catalog.to_json(enable_alarm_rule.name)
      USING ERRCODE = 'invalid_parameter_value', HINT = 'The rules are in telemetry.alarm_rules.';
  END IF;
  RETURN enabled;
END $$;
COMMENT ON FUNCTION telemetry.enable_alarm_rule(text, boolean) IS
  'enable_alarm_rule(name, enabled => true): enable a rule, or disable it (enabled => false; it is then not evaluated, and its alarms stay as they are). For telemetry_admin.';

-- Delivery. The shim (a login granted telemetry_publisher) takes what the outbox holds,
-- critical first, publishes each with QoS 1 and confirms what the broker acknowledged.
-- SECURITY DEFINER: the publisher reads and empties the outbox through these two and nothing
-- else, so it can neither read other data nor write an alarm.
CREATE FUNCTION telemetry.alarm_outbox_pending(max_events integer DEFAULT 100, after_event bigint DEFAULT 0)
RETURNS TABLE (event_id bigint, site_id text, severity text, payload jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT o.event_id, s.site_id, coalesce(e.severity, 'info'),
         pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
           'event_id', e.event_id, 'time', e.time, 'kind', e.kind, 'from', e.from_status, 'to', e.to_status,
           'severity', e.severity, 'value', e.value, 'unit', m.unit, 'rule_id', e.rule_id, 'rule', r.name,
           'series_id', e.series_id, 'site_id', s.site_id, 'asset_id', s.asset_id,
           'sensor_id', nullif(s.sensor_id, ''), 'metric', s.metric, 'actor', e.actor, 'note', e.note,
           'level', e.level, 'target', e.target, 'method', e.method,
           'cause', r.cause, 'consequence', r.consequence, 'action', r.action))
    FROM telemetry.alarm_outbox o
    JOIN telemetry.alarm_events e ON e.event_id = o.event_id AND e.time = o.time
    JOIN telemetry.series s ON s.series_id = e.series_id
    LEFT JOIN telemetry.alarm_rules r ON r.rule_id = e.rule_id
    LEFT JOIN telemetry.metric_rules m ON m.metric = s.metric
   WHERE o.event_id > after_event
   ORDER BY o.severity = 'critical' DESC, o.event_id
   LIMIT max_events
$$;
COMMENT ON FUNCTION telemetry.alarm_outbox_pending(integer, bigint) IS
  'alarm_outbox_pending(max_events => 100, after_event => 0): the alarm events not yet confirmed as published, critical ones first, then in event order: event_id, site_id and severity (for the topic) and the message as JSON (event_id, time, kind, from, to, severity, value, unit, rule, site, asset, sensor, metric, actor, note, escalation level, target, method, cause, consequence, action). after_event skips those already in flight. For telemetry_publisher.';

CREATE FUNCTION telemetry.alarm_outbox_confirm(event_ids bigint[])
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  WITH gone AS (DELETE FROM telemetry.alarm_outbox o WHERE o.event_id = ANY(event_ids) RETURNING 1)
  SELECT pg_catalog.count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION telemetry.alarm_outbox_confirm(bigint[]) IS
  'alarm_outbox_confirm(event_ids): the broker acknowledged these events (QoS 1 PUBACK): take them out of the outbox; returns how many were there. For telemetry_publisher.';

-- Grants (as in sql/grants.sql).
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['telemetry_operator', 'telemetry_publisher'] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;
GRANT USAGE ON SCHEMA telemetry TO telemetry_operator, telemetry_publisher;
DO $$
DECLARE f text;
BEGIN
  FOREACH f IN ARRAY ARRAY['telemetry.acknowledge(bigint, integer, text)',
                           'telemetry.shelve(bigint, integer, timestamptz, text)',
                           'telemetry.unshelve(bigint, integer, text)',
                           'telemetry.set_out_of_service(bigint, integer, boolean, text)',
                           'telemetry.run_maintenance()'] LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO telemetry_pipeline', f);
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END $$;
GRANT SELECT ON telemetry.readings, telemetry.series, telemetry.sites, telemetry.assets, telemetry.dead_letters,
  telemetry.dead_letter_messages, telemetry.ingest_batches, telemetry.ingest_stats, telemetry.sparkplug_metrics,
  telemetry.metric_registrations, telemetry.metrics_to_review, telemetry.alarm_rules, telemetry.alarm_states,
  telemetry.alarm_events, telemetry.escalation_levels, telemetry.active_alarms, telemetry.standing_alarms,
  telemetry.escalations_due
  TO telemetry_reader;
GRANT telemetry_reader TO telemetry_operator;
GRANT INSERT, UPDATE, DELETE ON telemetry.alarm_rules, telemetry.escalation_levels TO telemetry_admin;
GRANT USAGE ON SEQUENCE telemetry.alarm_rules_rule_id_seq TO telemetry_admin;
GRANT SELECT ON telemetry.alarm_rules, telemetry.escalation_levels TO telemetry_pipeline;
GRANT SELECT, INSERT, UPDATE ON telemetry.alarm_states TO telemetry_pipeline;
GRANT SELECT, INSERT ON telemetry.alarm_events TO telemetry_pipeline;
GRANT SELECT, INSERT, DELETE ON telemetry.alarm_outbox TO telemetry_pipeline;
GRANT USAGE ON SEQUENCE telemetry.alarm_events_event_id_seq TO telemetry_pipeline;
GRANT EXECUTE ON FUNCTION telemetry.acknowledge(bigint, integer, text),
  telemetry.shelve(bigint, integer, timestamptz, text), telemetry.unshelve(bigint, integer, text),
  telemetry.set_out_of_service(bigint, integer, boolean, text) TO telemetry_operator;
GRANT EXECUTE ON FUNCTION telemetry.run_maintenance() TO telemetry_admin;
REVOKE ALL ON FUNCTION telemetry.alarm_rule_check() FROM PUBLIC;
ALTER FUNCTION telemetry.alarm_trigger() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION telemetry.alarm_trigger() OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.alarm_trigger() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.alarm_trigger() TO telemetry_admin;
ALTER FUNCTION telemetry.alarm_outbox_pending(integer, bigint) OWNER TO telemetry_pipeline;
ALTER FUNCTION telemetry.alarm_outbox_confirm(bigint[]) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.alarm_outbox_pending(integer, bigint), telemetry.alarm_outbox_confirm(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.alarm_outbox_pending(integer, bigint), telemetry.alarm_outbox_confirm(bigint[])
  TO telemetry_publisher;
REVOKE ALL ON FUNCTION telemetry.add_alarm_rule(text, text, text, double precision, text, text, text, text, integer,
  interval, double precision, double precision, double precision, interval, integer, interval, integer, interval,
  interval, integer, integer, double precision, smallint, text[], text, text, text),
  telemetry.change_alarm_rule(text, jsonb), telemetry.enable_alarm_rule(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.add_alarm_rule(text, text, text, double precision, text, text, text, text, integer,
  interval, double precision, double precision, double precision, interval, integer, interval, integer, interval,
  interval, integer, integer, double precision, smallint, text[], text, text, text),
  telemetry.change_alarm_rule(text, jsonb), telemetry.enable_alarm_rule(text, boolean) TO telemetry_admin;

-- Comments (as in sql/function_comments.sql).
COMMENT ON FUNCTION telemetry.alarm_rule_check() IS
  'Trigger function of telemetry.alarm_rules: refuses a rule its kind cannot use (a missing limit, a parameter of another kind, both deadbands, a negative delay, an unknown kind, severity or suppressed kind) with 22023, naming the column.';
COMMENT ON FUNCTION telemetry.alarm_trigger() IS
  'Trigger function (AFTER INSERT OR UPDATE, FOR EACH ROW) for a table of your own: evaluates the alarm rules on its rows as the pipeline does on readings, registering series on first sight. Arguments, key=value: site=S or site_column=col, asset=A or asset_column=col, optionally sensor=X or sensor_column=col; the values as column=metric for each column (wide) or metric_column=col and value_column=col (narrow), in the metric''s canonical unit; time_column=col (required); optionally source_quality_column=col (0 good, 1 uncertain, 2 bad). Runs as telemetry_pipeline; for telemetry_admin to attach.';
COMMENT ON FUNCTION telemetry.acknowledge(bigint, integer, text) IS
  'acknowledge(rule_id, series_id, note => NULL): acknowledge an alarm (telemetry.active_alarms lists them) and record who (session_user), when and why; returns its status after: acknowledged if still active, normal if it had cleared. An alarm with nothing to acknowledge, or not in service, is refused (55000). For telemetry_operator.';
COMMENT ON FUNCTION telemetry.shelve(bigint, integer, timestamptz, text) IS
  'shelve(rule_id, series_id, until, note => NULL): shelve an alarm until a time in the future: it is not annunciated, and telemetry.run_maintenance() unshelves it at the expiry; returns its status (shelved). For telemetry_operator.';
COMMENT ON FUNCTION telemetry.unshelve(bigint, integer, text) IS
  'unshelve(rule_id, series_id, note => NULL): end a shelving early; an alarm whose condition holds raises at once. Returns its status after. For telemetry_operator.';
COMMENT ON FUNCTION telemetry.set_out_of_service(bigint, integer, boolean, text) IS
  'set_out_of_service(rule_id, series_id, out_of_service => true, note => NULL): take an alarm out of service (maintenance, a broken instrument), or return it (false; an alarm whose condition holds raises at once). Returns its status after. For telemetry_operator.';
COMMENT ON FUNCTION telemetry.run_maintenance() IS
  'run_maintenance(): what time alone decides for alarms: stale and flat-line conditions, delays by duration, clears the suppression window deferred, shelving expiry, re-alarm, escalation levels falling due, suppression by design. Returns how many alarm states it looked at and how many events it recorded. Run it every few seconds: the background worker does when the library is preloaded, or pg_cron, or a TimescaleDB job. For telemetry_admin.';
COMMENT ON FUNCTION telemetry.alarm_performance(timestamptz, timestamptz) IS
  'alarm_performance(period_start, period_end): the ISA-18.2 figures per site (one operator''s span of control) over a period: alarms raised, average per 10 minutes (ISA-18.2: about 1 is manageable, 2 the most), percent of 10-minute periods in flood (more than 10), and the peak 10 minutes.';
COMMENT ON FUNCTION telemetry.alarm_report(timestamptz, timestamptz) IS
  'alarm_report(period_start, period_end): the alarms that stand out over a period: chattering (3 or more raises within 60 s), stale (active over 24 h at the end), the top 10 contributors, and the priority distribution (raises per severity, with percent).';

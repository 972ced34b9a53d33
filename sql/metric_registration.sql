-- telemetry: metrics the pipeline registers on first sight (telemetry.unknown_metrics =
-- 'register'), their review (telemetry.metrics_to_review), and joining one into another metric
-- once it turns out to be a vendor name for it (telemetry.merge_metric()).

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
  t text;
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
      IF src.unit <> dst.unit THEN
        PERFORM telemetry.rebuild_rollups(s.series_id);
      END IF;
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
    -- The joined series' rollups are recomputed from its readings; the merged one has none left.
    PERFORM telemetry.rebuild_rollups(target);
    FOR t IN SELECT r.tier FROM telemetry.rollup_tiers() r LOOP
      EXECUTE pg_catalog.format('DELETE FROM telemetry.%I r WHERE r.series_id = $1', 'rollup_' || t || '_materialized')
        USING s.series_id;
    END LOOP;
    DELETE FROM telemetry.rollup_invalidations i WHERE i.series_id = s.series_id;
    DELETE FROM telemetry.series x WHERE x.series_id = s.series_id;
    series_merged := series_merged + 1;
  END LOOP;
  UPDATE telemetry.metric_aliases a SET metric = dst.metric WHERE a.metric = src.metric;
  DELETE FROM telemetry.metric_rules m WHERE m.metric = src.metric;
  INSERT INTO telemetry.metric_aliases (alias, metric) VALUES (src.metric, dst.metric);
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION telemetry.merge_metric(text, text, text) IS
  'merge_metric(metric, into_metric, note => NULL): join a metric into another of the same dimension, once it turns out to be a vendor name for it: each of its series is relabelled to into_metric (or, where a series of into_metric already exists for the same site, asset and sensor, its readings join that one), its readings are converted to the unit of into_metric, every change is recorded in telemetry.series_renames, the rollups of the series it converts or joins are rebuilt from their readings (telemetry.rebuild_rollups()), its rule is deleted and its name becomes an alias. Returns how many series were relabelled and joined, and how many readings moved or were exact duplicates. Refuses metrics of different dimensions and series that disagree at the same time (22023, 23505). For telemetry_admin.';

-- pg_dump keeps how each registered metric was first seen.
SELECT pg_catalog.pg_extension_config_dump('telemetry.metric_registrations', '');

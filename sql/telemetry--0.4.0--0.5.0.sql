-- telemetry 0.4.0 to 0.5.0: alarms are delivered with QoS 2 (telemetry.alarm_outbox records the
-- broker's receipt); analysis functions and the quality report. The functions' code comes
-- with the new library.

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

-- Alarm delivery with QoS 2: exactly once while the broker keeps the shim's session. The
-- broker's receipt (PUBREC) of each event is recorded before its release (PUBREL).
ALTER TABLE telemetry.alarm_outbox ADD COLUMN received_at timestamptz;
-- The MQTT packet id of an event is a function of its id (see alarm_outbox_pending).
CREATE INDEX alarm_outbox_packet_id ON telemetry.alarm_outbox ((event_id % 65535), event_id);
COMMENT ON TABLE telemetry.alarm_outbox IS
  'Alarm events the shim has not yet delivered to the broker (QoS 2: PUBLISH, the broker''s PUBREC, PUBREL, its PUBCOMP); it deletes each at the PUBCOMP. Filled with every event, in the event''s transaction.';
COMMENT ON COLUMN telemetry.alarm_outbox.received_at IS
  'When the broker acknowledged receipt (PUBREC), recorded before the shim releases the message (PUBREL): from then on the shim only releases it again, and never publishes it again, unless the broker lost its session.';
GRANT UPDATE (received_at) ON telemetry.alarm_outbox TO telemetry_pipeline;
DROP FUNCTION telemetry.alarm_outbox_pending(integer, bigint);
CREATE FUNCTION telemetry.alarm_outbox_pending(max_events integer DEFAULT 100, after_event bigint DEFAULT 0)
RETURNS TABLE (event_id bigint, packet_id integer, received boolean, site_id text, severity text, payload jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT o.event_id, (o.event_id % 65535)::integer + 1, o.received_at IS NOT NULL, s.site_id, coalesce(e.severity, 'info'),
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
     -- One event per packet id in flight: a later one waits for the earlier one's PUBCOMP.
     AND NOT EXISTS (SELECT FROM telemetry.alarm_outbox b
                      WHERE b.event_id % 65535 = o.event_id % 65535 AND b.event_id < o.event_id)
   ORDER BY o.severity = 'critical' DESC, o.event_id
   LIMIT max_events
$$;
COMMENT ON FUNCTION telemetry.alarm_outbox_pending(integer, bigint) IS
  'alarm_outbox_pending(max_events => 100, after_event => 0): the alarm events not yet delivered to the broker, critical ones first, then in event order: event_id; the MQTT packet id to publish it under (event_id % 65535 + 1, the same after any restart, so that the broker takes a PUBLISH sent again as the same message); whether the broker has acknowledged receipt (then only its PUBREL is to be sent again); site_id and severity (for the topic); and the message as JSON (event_id, time, kind, from, to, severity, value, unit, rule, site, asset, sensor, metric, actor, note, escalation level, target, method, cause, consequence, action). after_event skips those already in flight. For telemetry_publisher.';

CREATE FUNCTION telemetry.alarm_outbox_received(event_ids bigint[])
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  WITH marked AS (UPDATE telemetry.alarm_outbox o SET received_at = pg_catalog.now()
                   WHERE o.event_id = ANY(event_ids) AND o.received_at IS NULL RETURNING 1)
  SELECT pg_catalog.count(*)::integer FROM marked
$$;
COMMENT ON FUNCTION telemetry.alarm_outbox_received(bigint[]) IS
  'alarm_outbox_received(event_ids): the broker acknowledged receipt of these events (QoS 2 PUBREC); recorded before the shim sends their PUBREL. Returns how many were not marked yet. For telemetry_publisher.';

CREATE FUNCTION telemetry.alarm_outbox_session_lost()
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  WITH reset AS (UPDATE telemetry.alarm_outbox o SET received_at = NULL
                  WHERE o.received_at IS NOT NULL RETURNING 1)
  SELECT pg_catalog.count(*)::integer FROM reset
$$;
COMMENT ON FUNCTION telemetry.alarm_outbox_session_lost() IS
  'alarm_outbox_session_lost(): the broker kept no session for the shim''s alarm client, so it no longer holds the messages it had acknowledged receipt of: they are published again (at least once: one the broker had already released may arrive twice). Returns how many. For telemetry_publisher.';

COMMENT ON FUNCTION telemetry.alarm_outbox_confirm(bigint[]) IS
  'alarm_outbox_confirm(event_ids): the broker completed the delivery of these events (QoS 2 PUBCOMP): take them out of the outbox; returns how many were there. For telemetry_publisher.';
ALTER FUNCTION telemetry.alarm_outbox_pending(integer, bigint) OWNER TO telemetry_pipeline;
ALTER FUNCTION telemetry.alarm_outbox_received(bigint[]) OWNER TO telemetry_pipeline;
ALTER FUNCTION telemetry.alarm_outbox_session_lost() OWNER TO telemetry_pipeline;
ALTER FUNCTION telemetry.alarm_outbox_confirm(bigint[]) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.alarm_outbox_pending(integer, bigint), telemetry.alarm_outbox_received(bigint[]),
  telemetry.alarm_outbox_session_lost(), telemetry.alarm_outbox_confirm(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.alarm_outbox_pending(integer, bigint), telemetry.alarm_outbox_received(bigint[]),
  telemetry.alarm_outbox_session_lost(), telemetry.alarm_outbox_confirm(bigint[])
  TO telemetry_publisher;

-- Analysis (issue 12: counters, time weighting, gaps) and the quality report: the functions of
-- the library (as cargo pgrx schema generates them), then sql/analysis.sql, their comments
-- (sql/function_comments.sql) and grants (sql/grants.sql).
-- telemetry::analysis::counters::counter_accum
CREATE FUNCTION telemetry."counter_accum"(
	"state" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"time" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"value" double precision /* Option < f64 > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'counter_accum_wrapper';
-- telemetry::analysis::counters::counter_accum
CREATE FUNCTION telemetry."counter_accum"(
	"state" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"time" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"value" double precision, /* Option < f64 > */
	"rollover" double precision /* Option < f64 > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'counter_accum_rollover_wrapper';
-- telemetry::analysis::counters::counter_combine
CREATE FUNCTION telemetry."counter_combine"(
	"a" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"b" double precision[] /* :: std :: option :: Option < Array < '_, f64 > > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'counter_combine_wrapper';
-- telemetry::analysis::counters::counter_deltas
CREATE FUNCTION telemetry."counter_deltas"(
	"times" timestamp with time zone[], /* :: std :: option :: Option < Array < '_, TimestampWithTimeZone > > */
	"values" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"from" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"to" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"bucket" interval, /* Option < Interval > */
	"rollover" double precision DEFAULT NULL /* Option < f64 > */
) RETURNS TABLE (
	"bucket" timestamp with time zone,  /* TimestampWithTimeZone */
	"delta" double precision,  /* Option < f64 > */
	"rate_per_second" double precision,  /* Option < f64 > */
	"resets" bigint  /* i64 */
)
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'counter_deltas_wrapper';
-- telemetry::analysis::counters::counter_increase_final
CREATE FUNCTION telemetry."counter_increase_final"(
	"state" double precision[] /* :: std :: option :: Option < Array < '_, f64 > > */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'counter_increase_final_wrapper';
-- telemetry::analysis::counters::counter_rate_final
CREATE FUNCTION telemetry."counter_rate_final"(
	"state" double precision[] /* :: std :: option :: Option < Array < '_, f64 > > */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'counter_rate_final_wrapper';
-- telemetry::analysis::smoothing::ema_accum
CREATE FUNCTION telemetry."ema_accum"(
	"state" double precision, /* Option < f64 > */
	"value" double precision, /* Option < f64 > */
	"alpha" double precision /* Option < f64 > */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'ema_accum_wrapper';
-- telemetry::analysis::smoothing::ema_time_accum
CREATE FUNCTION telemetry."ema_time_accum"(
	"state" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"time" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"value" double precision, /* Option < f64 > */
	"time_constant" interval /* Option < Interval > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'ema_time_accum_wrapper';
-- telemetry::analysis::smoothing::ema_time_final
CREATE FUNCTION telemetry."ema_time_final"(
	"state" double precision[] /* :: std :: option :: Option < Array < '_, f64 > > */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'ema_time_final_wrapper';
-- telemetry::analysis::gapfill::gapfill
CREATE FUNCTION telemetry."gapfill"(
	"times" timestamp with time zone[], /* :: std :: option :: Option < Array < '_, TimestampWithTimeZone > > */
	"values" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"from" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"to" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"bucket" interval, /* Option < Interval > */
	"method" TEXT DEFAULT 'linear', /* Option < & str > */
	"agg" TEXT DEFAULT 'avg' /* Option < & str > */
) RETURNS TABLE (
	"bucket" timestamp with time zone,  /* TimestampWithTimeZone */
	"value" double precision,  /* Option < f64 > */
	"filled" bool  /* bool */
)
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'gapfill_wrapper';
-- telemetry::quality_report::quality_report
CREATE FUNCTION telemetry."quality_report"(
	"from" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"to" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"group_by" TEXT DEFAULT 'site', /* Option < & str > */
	"default_interval" interval DEFAULT '1 minute' /* Option < Interval > */
) RETURNS TABLE (
	"site_id" TEXT,  /* Option < String > */
	"asset_id" TEXT,  /* Option < String > */
	"metric" TEXT,  /* Option < String > */
	"series" bigint,  /* i64 */
	"expected_samples" double precision,  /* f64 */
	"received_samples" bigint,  /* i64 */
	"completeness" double precision,  /* Option < f64 > */
	"validity" double precision,  /* Option < f64 > */
	"consistency" double precision,  /* Option < f64 > */
	"timeliness" double precision,  /* Option < f64 > */
	"overall" double precision  /* Option < f64 > */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quality_report_wrapper';
-- telemetry::analysis::time_weight::time_weight_accum
CREATE FUNCTION telemetry."time_weight_accum"(
	"state" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"time" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"value" double precision /* Option < f64 > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'time_weight_accum_wrapper';
-- telemetry::analysis::time_weight::time_weight_accum
CREATE FUNCTION telemetry."time_weight_accum"(
	"state" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"time" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"value" double precision, /* Option < f64 > */
	"method" TEXT /* Option < & str > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'time_weight_accum_method_wrapper';
-- telemetry::analysis::time_weight::time_weight_combine
CREATE FUNCTION telemetry."time_weight_combine"(
	"a" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"b" double precision[] /* :: std :: option :: Option < Array < '_, f64 > > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'time_weight_combine_wrapper';
-- telemetry::analysis::time_weight::time_weight_final
CREATE FUNCTION telemetry."time_weight_final"(
	"state" double precision[] /* :: std :: option :: Option < Array < '_, f64 > > */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'time_weight_final_wrapper';
-- telemetry::analysis::time_weight::time_weighted_averages
CREATE FUNCTION telemetry."time_weighted_averages"(
	"times" timestamp with time zone[], /* :: std :: option :: Option < Array < '_, TimestampWithTimeZone > > */
	"values" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"from" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"to" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"bucket" interval, /* Option < Interval > */
	"method" TEXT DEFAULT 'linear' /* Option < & str > */
) RETURNS TABLE (
	"bucket" timestamp with time zone,  /* TimestampWithTimeZone */
	"average" double precision  /* Option < f64 > */
)
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'time_weighted_averages_wrapper';
-- telemetry::analysis::smoothing::trend_accum
CREATE FUNCTION telemetry."trend_accum"(
	"state" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"time" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"value" double precision /* Option < f64 > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'trend_accum_wrapper';
-- telemetry::analysis::smoothing::trend_accum
CREATE FUNCTION telemetry."trend_accum"(
	"state" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"time" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"value" double precision, /* Option < f64 > */
	"per" interval /* Option < Interval > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'trend_accum_per_wrapper';
-- telemetry::analysis::smoothing::trend_combine
CREATE FUNCTION telemetry."trend_combine"(
	"a" double precision[], /* :: std :: option :: Option < Array < '_, f64 > > */
	"b" double precision[] /* :: std :: option :: Option < Array < '_, f64 > > */
) RETURNS double precision[] /* State */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'trend_combine_wrapper';
-- telemetry::analysis::smoothing::trend_slope_final
CREATE FUNCTION telemetry."trend_slope_final"(
	"state" double precision[] /* :: std :: option :: Option < Array < '_, f64 > > */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'trend_slope_final_wrapper';

-- telemetry: analysis of (time, value) rows, usable on both TimescaleDB editions (the Apache
-- edition has no time_bucket_gapfill): counters through resets and rollovers, time-weighted
-- averages, gap filling, exponential moving averages and trend slopes. The aggregates take
-- plain columns, and the bucketed functions arrays of times and values, so they serve raw
-- readings, rollup rows or any rows an analyst has; the forms by series id below read
-- telemetry.readings. The logic is telemetry_core::analysis, the state functions are in
-- extension/src/analysis/. The simple moving average is avg() OVER (...), see README.md.

-- Counters: the rise over ordered rows, and the rise per second.
CREATE AGGREGATE telemetry.counter_increase("time" timestamptz, value double precision) (
  SFUNC = telemetry.counter_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.counter_increase_final, COMBINEFUNC = telemetry.counter_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.counter_increase("time" timestamptz, value double precision, rollover double precision) (
  SFUNC = telemetry.counter_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.counter_increase_final, COMBINEFUNC = telemetry.counter_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.counter_rate("time" timestamptz, value double precision) (
  SFUNC = telemetry.counter_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.counter_rate_final, COMBINEFUNC = telemetry.counter_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.counter_rate("time" timestamptz, value double precision, rollover double precision) (
  SFUNC = telemetry.counter_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.counter_rate_final, COMBINEFUNC = telemetry.counter_combine,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.counter_increase(timestamptz, double precision) IS
  'How much a cumulative counter rose over the rows, which must come in time order (counter_increase(time, value ORDER BY time)): a drop is a reset, after which the new value counts from zero.';
COMMENT ON AGGREGATE telemetry.counter_increase(timestamptz, double precision, double precision) IS
  'How much a cumulative counter rose over the rows in time order: a drop that implies a rise under half of rollover (the value the register wraps to 0 at: 65536 for 16 bits, 4294967296 for 32) is a wrap, any other drop a reset.';
COMMENT ON AGGREGATE telemetry.counter_rate(timestamptz, double precision) IS
  'The rise of a cumulative counter per second between its first and last rows in time order, through resets; NULL without two distinct times.';
COMMENT ON AGGREGATE telemetry.counter_rate(timestamptz, double precision, double precision) IS
  'The rise of a cumulative counter per second between its first and last rows in time order, through resets and wraps at rollover.';

-- Time-weighted averages.
CREATE AGGREGATE telemetry.time_weighted_average("time" timestamptz, value double precision) (
  SFUNC = telemetry.time_weight_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.time_weight_final, COMBINEFUNC = telemetry.time_weight_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.time_weighted_average("time" timestamptz, value double precision, method text) (
  SFUNC = telemetry.time_weight_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.time_weight_final, COMBINEFUNC = telemetry.time_weight_combine,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.time_weighted_average(timestamptz, double precision) IS
  'The average of a gauge over time from its first to its last row (in time order: ORDER BY time), reading it on the straight line between rows; one row is its own average.';
COMMENT ON AGGREGATE telemetry.time_weighted_average(timestamptz, double precision, text) IS
  'The average of a gauge over time from its first to its last row in time order; method ''linear'' reads it on the straight line between rows, ''locf'' carries each row forward to the next (the method of the first row counts).';

-- Smoothing and trend.
CREATE AGGREGATE telemetry.ema(value double precision, alpha double precision) (
  SFUNC = telemetry.ema_accum, STYPE = double precision, PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.ema("time" timestamptz, value double precision, time_constant interval) (
  SFUNC = telemetry.ema_time_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.ema_time_final, PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.trend_slope("time" timestamptz, value double precision) (
  SFUNC = telemetry.trend_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.trend_slope_final, COMBINEFUNC = telemetry.trend_combine,
  PARALLEL = SAFE
);
CREATE AGGREGATE telemetry.trend_slope("time" timestamptz, value double precision, per interval) (
  SFUNC = telemetry.trend_accum, STYPE = double precision[], INITCOND = '{}',
  FINALFUNC = telemetry.trend_slope_final, COMBINEFUNC = telemetry.trend_combine,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.ema(double precision, double precision) IS
  'Exponential moving average (seed 003): the first value, then alpha * value + (1 - alpha) * previous, alpha in (0, 1]. As a window aggregate, ema(value, 0.3) OVER (ORDER BY time), it gives the EMA at each row; as a plain aggregate it needs ORDER BY time.';
COMMENT ON AGGREGATE telemetry.ema(timestamptz, double precision, interval) IS
  'Exponential moving average for irregular sampling: each row weighs 1 - exp(-dt / time_constant) for the time dt since the previous row. Rows in time order: ema(time, value, interval ''5 minutes'') OVER (ORDER BY time).';
COMMENT ON AGGREGATE telemetry.trend_slope(timestamptz, double precision) IS
  'The least-squares slope of value against time, per hour (as seed 003 fits it); NULL without two distinct times. Rows in any order.';
COMMENT ON AGGREGATE telemetry.trend_slope(timestamptz, double precision, interval) IS
  'The least-squares slope of value against time, per the given interval (interval ''1 day'' for degradation per day; a month counts 30 days). Rows in any order.';

-- The forms by series id (their search_path pinned, so that no operator a caller's path brings
-- can stand in for pg_catalog's): the series' readings covering the buckets, and the one reading on
-- either side of them, so spans reaching into the first and last buckets count and gaps at
-- either end are filled from beyond. "from" - bucket and "to" + bucket surely cover the buckets
-- (the first holds "from", the last starts before "to").
CREATE FUNCTION telemetry.series_points(series_id integer, "from" timestamptz, "to" timestamptz, margin interval)
RETURNS TABLE (times timestamptz[], "values" double precision[])
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.array_agg(p.time ORDER BY p.time), pg_catalog.array_agg(p.value ORDER BY p.time)
    FROM ((SELECT r.time, r.value FROM telemetry.readings r
            WHERE r.series_id = $1 AND r.time < $2 - $4 ORDER BY r.time DESC LIMIT 1)
          UNION ALL
          (SELECT r.time, r.value FROM telemetry.readings r
            WHERE r.series_id = $1 AND r.time >= $2 - $4 AND r.time < $3 + $4)
          UNION ALL
          (SELECT r.time, r.value FROM telemetry.readings r
            WHERE r.series_id = $1 AND r.time >= $3 + $4 ORDER BY r.time LIMIT 1)) p
$$;
COMMENT ON FUNCTION telemetry.series_points(integer, timestamptz, timestamptz, interval) IS
  'The times and values of a series'' readings in [from - margin, to + margin), with the last reading before and the first after, in time order: what the bucketed analysis functions take.';

-- By name: the series of a site, asset, metric (any alias of it) and sensor.
CREATE FUNCTION telemetry.series_id(site_id text, asset_id text, metric text, sensor_id text DEFAULT '')
RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  id integer;
BEGIN
  SELECT s.series_id INTO id FROM telemetry.series s
   WHERE s.site_id = $1 AND s.asset_id = $2 AND s.metric = telemetry.normalize_metric($3) AND s.sensor_id = $4;
  IF id IS NULL THEN
    RAISE EXCEPTION 'no series of site %, asset %, sensor %, metric %', pg_catalog.quote_literal($1),
      pg_catalog.quote_literal($2), pg_catalog.quote_literal($4), pg_catalog.quote_literal($3)
      USING ERRCODE = 'invalid_parameter_value', HINT = 'telemetry.series lists the series.';
  END IF;
  RETURN id;
END $$;
COMMENT ON FUNCTION telemetry.series_id(text, text, text, text) IS
  'series_id(site_id, asset_id, metric, sensor_id => ''''): the series of those names (the metric by any of its aliases), for the analysis functions by series id: telemetry.gapfill(telemetry.series_id(''site-1'', ''inv-01'', ''active_power''), ...). An unknown series is an error (22023).';

CREATE FUNCTION telemetry.counter_deltas(series_id integer, "from" timestamptz, "to" timestamptz,
                                         bucket interval DEFAULT '1 hour', rollover double precision DEFAULT NULL)
RETURNS TABLE (bucket timestamptz, delta double precision, rate_per_second double precision, resets bigint)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT d.bucket, d.delta, d.rate_per_second, d.resets
    FROM telemetry.series_points($1, $2, $3, $4) p,
         telemetry.counter_deltas(p.times, p."values", $2, $3, $4, $5) d
$$;
COMMENT ON FUNCTION telemetry.counter_deltas(integer, timestamptz, timestamptz, interval, double precision) IS
  'The rise of a counter series per bucket of [from, to), through resets (a drop counts from zero) and wraps at rollover: a rise between two readings is split over the buckets they straddle in proportion to time, so the deltas add up to the whole rise. rate_per_second is the delta over the part of the bucket between readings.';

CREATE FUNCTION telemetry.time_weighted_averages(series_id integer, "from" timestamptz, "to" timestamptz,
                                                 bucket interval DEFAULT '1 hour', method text DEFAULT 'linear')
RETURNS TABLE (bucket timestamptz, average double precision)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT a.bucket, a.average
    FROM telemetry.series_points($1, $2, $3, $4) p,
         telemetry.time_weighted_averages(p.times, p."values", $2, $3, $4, $5) a
$$;
COMMENT ON FUNCTION telemetry.time_weighted_averages(integer, timestamptz, timestamptz, interval, text) IS
  'The time-weighted average of a series per bucket of [from, to), linear or locf: the value at a bucket''s start is interpolated (or carried) from the readings around it; NULL where no two readings span any of the bucket.';

CREATE FUNCTION telemetry.gapfill(series_id integer, "from" timestamptz, "to" timestamptz,
                                  bucket interval DEFAULT '1 hour', method text DEFAULT 'linear', agg text DEFAULT 'avg')
RETURNS TABLE (bucket timestamptz, value double precision, filled boolean)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT g.bucket, g.value, g.filled
    FROM telemetry.series_points($1, $2, $3, $4) p,
         telemetry.gapfill(p.times, p."values", $2, $3, $4, $5, $6) g
$$;
COMMENT ON FUNCTION telemetry.gapfill(integer, timestamptz, timestamptz, interval, text, text) IS
  'Every bucket of [from, to) of a series: its readings aggregated by agg (avg, min, max, sum, first, last), and empty buckets filled by method (linear, locf or none), from the last reading before "from" and the first after "to" where the gap is at an end. filled is true for a filled-in value.';

-- Analysis (sql/analysis.sql): the state functions of its aggregates and the bucketed forms
-- over arrays.
COMMENT ON FUNCTION telemetry.counter_accum(double precision[], timestamptz, double precision) IS
  'State function of telemetry.counter_increase(time, value) and telemetry.counter_rate(time, value): n, first and last time (microseconds) and value, rise, resets, rollover.';
COMMENT ON FUNCTION telemetry.counter_accum(double precision[], timestamptz, double precision, double precision) IS
  'State function of telemetry.counter_increase(time, value, rollover) and telemetry.counter_rate(time, value, rollover).';
COMMENT ON FUNCTION telemetry.counter_combine(double precision[], double precision[]) IS
  'Combines two states of the counter aggregates covering times that do not overlap (parallel aggregation); overlapping ones are an error, since the rows were not in time order.';
COMMENT ON FUNCTION telemetry.counter_increase_final(double precision[]) IS
  'Final function of telemetry.counter_increase: the rise.';
COMMENT ON FUNCTION telemetry.counter_rate_final(double precision[]) IS
  'Final function of telemetry.counter_rate: the rise per second between the first and last rows.';
COMMENT ON FUNCTION telemetry.counter_deltas(timestamptz[], double precision[], timestamptz, timestamptz, interval, double precision) IS
  'counter_deltas(times, values, from, to, bucket, rollover => NULL): the rise of a counter per bucket of [from, to) (aligned as time_bucket aligns them) from any rows: readings, or a rollup''s last values. A rise between two rows is split over the buckets they straddle in proportion to time, so the deltas add up to the whole rise; a drop is a reset (the new value counts from zero) unless rollover is given and the drop implies a rise under half of it (a wrap). Rows before and after the buckets count for the spans reaching into them. delta is NULL for a bucket no two rows span; rate_per_second is the delta over the part of the bucket between rows; resets counts the resets shown by rows in the bucket.';
COMMENT ON FUNCTION telemetry.time_weight_accum(double precision[], timestamptz, double precision) IS
  'State function of telemetry.time_weighted_average(time, value), linear: n, first and last time and value, method, integral.';
COMMENT ON FUNCTION telemetry.time_weight_accum(double precision[], timestamptz, double precision, text) IS
  'State function of telemetry.time_weighted_average(time, value, method).';
COMMENT ON FUNCTION telemetry.time_weight_combine(double precision[], double precision[]) IS
  'Combines two states of telemetry.time_weighted_average covering times that do not overlap (parallel aggregation).';
COMMENT ON FUNCTION telemetry.time_weight_final(double precision[]) IS
  'Final function of telemetry.time_weighted_average: the integral over the time from the first to the last row.';
COMMENT ON FUNCTION telemetry.time_weighted_averages(timestamptz[], double precision[], timestamptz, timestamptz, interval, text) IS
  'time_weighted_averages(times, values, from, to, bucket, method => ''linear''): the time-weighted average per bucket of [from, to) from any rows; the value at a bucket''s start and end is interpolated (linear) or carried (locf) from the rows around it, rows outside the buckets included. NULL for a bucket no two rows span.';
COMMENT ON FUNCTION telemetry.gapfill(timestamptz[], double precision[], timestamptz, timestamptz, interval, text, text) IS
  'gapfill(times, values, from, to, bucket, method => ''linear'', agg => ''avg''): every bucket of [from, to) (aligned as time_bucket aligns them) from any rows, raw or rollup (bucket and mean): the rows of a bucket aggregated by agg (avg, min, max, sum, first, last) and standing at its start; an empty bucket filled by method: linear between the buckets (or rows outside the range) on either side, locf from the one before, none left NULL. filled is true for a filled-in value. The Apache edition''s answer to time_bucket_gapfill.';
COMMENT ON FUNCTION telemetry.ema_accum(double precision, double precision, double precision) IS
  'State function of telemetry.ema(value, alpha): the EMA so far.';
COMMENT ON FUNCTION telemetry.ema_time_accum(double precision[], timestamptz, double precision, interval) IS
  'State function of telemetry.ema(time, value, time_constant): the last time (microseconds) and the EMA.';
COMMENT ON FUNCTION telemetry.ema_time_final(double precision[]) IS
  'Final function of telemetry.ema(time, value, time_constant): the EMA.';
COMMENT ON FUNCTION telemetry.trend_accum(double precision[], timestamptz, double precision) IS
  'State function of telemetry.trend_slope(time, value): count, means and co-moments of time (seconds) and value, and the seconds per unit of slope (3600).';
COMMENT ON FUNCTION telemetry.trend_accum(double precision[], timestamptz, double precision, interval) IS
  'State function of telemetry.trend_slope(time, value, per).';
COMMENT ON FUNCTION telemetry.trend_combine(double precision[], double precision[]) IS
  'Combines two states of telemetry.trend_slope (parallel aggregation, Chan''s formula).';
COMMENT ON FUNCTION telemetry.trend_slope_final(double precision[]) IS
  'Final function of telemetry.trend_slope: the least-squares slope per unit.';

-- The quality report (extension/src/quality_report.rs).
COMMENT ON FUNCTION telemetry.quality_report(timestamptz, timestamptz, text, interval) IS
  'quality_report(from, to, group_by => ''site'' | ''asset'' | ''metric'', default_interval => ''1 minute''): seed 002''s data quality dimensions over the readings in [from, to), in percent: completeness (readings received against expected from each series'' metric_rules.expected_interval, or default_interval where it has none, NULL to leave those out; a series counts at most what it was expected to send), validity (mean quality score), consistency (readings not flagged spike or anomaly), timeliness (ingested within telemetry.timeliness_threshold), and overall, weighted by the telemetry.quality_weight_* settings over the dimensions that apply. Series created after the period and silent in it are left out.';

-- Analysis (sql/analysis.sql) and the quality report. The aggregates and the functions over
-- arrays read no table and are everyone's; those that read the readings are the readers'
-- (they run with the caller's rights, so the reader's SELECT is what they use).
REVOKE ALL ON FUNCTION telemetry.series_points(integer, timestamptz, timestamptz, interval),
  telemetry.series_id(text, text, text, text),
  telemetry.counter_deltas(integer, timestamptz, timestamptz, interval, double precision),
  telemetry.time_weighted_averages(integer, timestamptz, timestamptz, interval, text),
  telemetry.gapfill(integer, timestamptz, timestamptz, interval, text, text),
  telemetry.quality_report(timestamptz, timestamptz, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.series_points(integer, timestamptz, timestamptz, interval),
  telemetry.series_id(text, text, text, text),
  telemetry.counter_deltas(integer, timestamptz, timestamptz, interval, double precision),
  telemetry.time_weighted_averages(integer, timestamptz, timestamptz, interval, text),
  telemetry.gapfill(integer, timestamptz, timestamptz, interval, text, text),
  telemetry.quality_report(timestamptz, timestamptz, text, interval) TO telemetry_reader;

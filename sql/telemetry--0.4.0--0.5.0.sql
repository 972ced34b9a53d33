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

-- Rollups: the summary type and its Rust functions, as cargo pgrx schema generates them.
CREATE TYPE Summary;

CREATE  FUNCTION "summary_in"(
	"input" cstring /* Option < & :: core :: ffi :: CStr > */
) RETURNS Summary /* Option < Summary > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'summary_in_wrapper';

CREATE  FUNCTION "summary_out"(
	"input" Summary /* Summary */
) RETURNS cstring /* :: pgrx :: ffi :: CString */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'summary_out_wrapper';

CREATE TYPE Summary (
	INTERNALLENGTH = variable,
	INPUT = summary_in, /* telemetry::rollups::summary_in */
	OUTPUT = summary_out, /* telemetry::rollups::summary_out */
	STORAGE = extended
);

CREATE  FUNCTION "rollup_tiers"() RETURNS TABLE (
	"tier" TEXT,  /* String */
	"bucket_width" interval,  /* pgrx :: datum :: Interval */
	"percentiles" bool  /* bool */
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'rollup_tiers_wrapper';

CREATE  FUNCTION "summarize_trans"(
	"state" internal, /* Internal */
	"time" timestamp with time zone, /* Option < TimestampWithTimeZone > */
	"value" double precision, /* Option < f64 > */
	"quality" real, /* Option < f32 > */
	"flags" INT, /* Option < i32 > */
	"source_quality" smallint /* Option < i16 > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'summarize_trans_wrapper';

CREATE  FUNCTION "min_val"(
	"summary" Summary /* Summary */
) RETURNS double precision /* f64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'min_val_wrapper';

CREATE  FUNCTION "rollup_merge"(
	"a" Summary, /* Summary */
	"b" Summary /* Summary */
) RETURNS Summary /* Summary */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'rollup_merge_wrapper';

CREATE  FUNCTION "first_time"(
	"summary" Summary /* Summary */
) RETURNS timestamp with time zone /* TimestampWithTimeZone */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'first_time_wrapper';

CREATE  FUNCTION "mean"(
	"summary" Summary /* Summary */
) RETURNS double precision /* f64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'mean_wrapper';

CREATE  FUNCTION "bad_count"(
	"summary" Summary /* Summary */
) RETURNS bigint /* i64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'bad_count_wrapper';

CREATE  FUNCTION "stddev"(
	"summary" Summary, /* Summary */
	"population" bool DEFAULT false /* bool */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'stddev_wrapper';

CREATE  FUNCTION "max_val"(
	"summary" Summary /* Summary */
) RETURNS double precision /* f64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'max_val_wrapper';

CREATE  FUNCTION "last_val"(
	"summary" Summary /* Summary */
) RETURNS double precision /* f64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'last_val_wrapper';

CREATE  FUNCTION "first_val"(
	"summary" Summary /* Summary */
) RETURNS double precision /* f64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'first_val_wrapper';

CREATE  FUNCTION "flags_seen"(
	"summary" Summary /* Summary */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'flags_seen_wrapper';

CREATE  FUNCTION "rollup_trans"(
	"state" internal, /* Internal */
	"summary" Summary /* Option < Summary > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'rollup_trans_wrapper';

CREATE  FUNCTION "good_count"(
	"summary" Summary /* Summary */
) RETURNS bigint /* i64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'good_count_wrapper';

CREATE  FUNCTION "last_time"(
	"summary" Summary /* Summary */
) RETURNS timestamp with time zone /* TimestampWithTimeZone */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'last_time_wrapper';

CREATE  FUNCTION "num_vals"(
	"summary" Summary /* Summary */
) RETURNS bigint /* i64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'num_vals_wrapper';

CREATE  FUNCTION "percentile_error"(
	"summary" Summary /* Summary */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'percentile_error_wrapper';

CREATE  FUNCTION "summary_final"(
	"state" internal /* Internal */
) RETURNS Summary /* Option < Summary > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'summary_final_wrapper';

CREATE  FUNCTION "percentile"(
	"summary" Summary, /* Summary */
	"fraction" double precision /* f64 */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'percentile_wrapper';

CREATE  FUNCTION "mean_quality"(
	"summary" Summary /* Summary */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'mean_quality_wrapper';

CREATE  FUNCTION "uncertain_count"(
	"summary" Summary /* Summary */
) RETURNS bigint /* i64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uncertain_count_wrapper';

CREATE  FUNCTION "variance"(
	"summary" Summary, /* Summary */
	"population" bool DEFAULT false /* bool */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'variance_wrapper';

CREATE  FUNCTION "without_percentiles"(
	"summary" Summary /* Summary */
) RETURNS Summary /* Summary */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'without_percentiles_wrapper';

-- sql/rollups.sql:
-- telemetry: rollup tiers that are always fresh and exact, without the pipeline writing them.
-- Each tier is a view, telemetry.rollup_<tier> (series_id, bucket, summary), over three parts:
-- the rows maintenance materialized in bulk into the table telemetry.rollup_<tier>_materialized
-- for the closed buckets below the tier's watermark (telemetry.rollup_watermarks), except those
-- with late readings since (telemetry.rollup_invalidations, recorded by the ingest pipeline,
-- extension/src/ingest/rollups.rs); and, computed from the raw readings as the view is read,
-- the buckets at or above the watermark and the invalidated ones. So a committed reading is in
-- every tier at once, late data of any age within raw retention is reflected exactly, and
-- ingest of in-order data writes nothing for the rollups. telemetry.materialize_rollups()
-- (which telemetry.run_maintenance() runs) advances the watermarks and re-materializes the
-- invalidated buckets. The summary type, its merge and its accessors are Rust functions
-- (extension/src/rollups/); here are the aggregates over them, the tables, the views,
-- materialize_rollups() and rebuild_rollups().
COMMENT ON TYPE telemetry.summary IS
  'A mergeable summary of the readings of one series over a span of time: count, sum, min, max, first and last by time, mean and M2 (combined by the parallel form of Chan et al., stable for values like 1e9 + small), counts of good / uncertain / bad readings, mean quality score, flags seen, and, from the 5-minute tier up, a relative-error percentile sketch (1 % relative error, see telemetry.percentile()). Combine with telemetry.rollup(), read with telemetry.mean(), telemetry.percentile() and the other accessors. Its text form is JSON.';

CREATE AGGREGATE telemetry.summarize(timestamptz, double precision, real, integer, smallint) (
  SFUNC = telemetry.summarize_trans,
  STYPE = internal,
  FINALFUNC = telemetry.summary_final,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.summarize(timestamptz, double precision, real, integer, smallint) IS
  'summarize(time, value, quality, flags, source_quality): the telemetry.summary of raw readings, with its percentile sketch, e.g. SELECT telemetry.summarize(time, value, quality, flags, source_quality) FROM telemetry.readings WHERE ... Rows with a NULL time or value are skipped; NULL when none is left.';

CREATE AGGREGATE telemetry.rollup(telemetry.summary) (
  SFUNC = telemetry.rollup_trans,
  STYPE = internal,
  FINALFUNC = telemetry.summary_final,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE telemetry.rollup(telemetry.summary) IS
  'rollup(summary): the summary of all the readings the summaries summarise, e.g. a 2-hour bucket from 1-minute rows: SELECT pg_catalog.date_bin(''2 hours'', bucket, ''2000-01-01''), telemetry.mean(telemetry.rollup(summary)) FROM telemetry.rollup_1m GROUP BY 1. Exact for every field (mean and variance to floating-point rounding); it keeps a percentile sketch only if every input has one (the 1-minute tier has none). NULL inputs are skipped.';

-- How far each tier is materialized, and the late readings' buckets since. One row per tier;
-- NULL until maintenance first finds readings to materialize.
CREATE TABLE telemetry.rollup_watermarks (
    tier               text PRIMARY KEY,
    materialized_until timestamptz
);
COMMENT ON TABLE telemetry.rollup_watermarks IS
  'How far each rollup tier is materialized: telemetry.rollup_<tier>_materialized holds the buckets that begin before materialized_until (NULL: none yet); telemetry.rollup_<tier> computes the later ones from the raw readings. Advanced by telemetry.materialize_rollups(); a tier is never ahead of the tier below it.';
COMMENT ON COLUMN telemetry.rollup_watermarks.tier IS 'A tier of telemetry.rollup_tiers().';
COMMENT ON COLUMN telemetry.rollup_watermarks.materialized_until IS
  'Buckets that begin before it are materialized (a multiple of the tier''s width); NULL: nothing is.';
INSERT INTO telemetry.rollup_watermarks (tier) SELECT r.tier FROM telemetry.rollup_tiers() r;

CREATE TABLE telemetry.rollup_invalidations (
    series_id integer NOT NULL,
    bucket    timestamptz NOT NULL,
    PRIMARY KEY (series_id, bucket)
);
COMMENT ON TABLE telemetry.rollup_invalidations IS
  'The 1-minute buckets of late readings: readings stored for a bucket that was already materialized (its time before the 1-minute watermark). The ingest pipeline records them, one row per series and minute, in the batch''s transaction; until telemetry.materialize_rollups() re-materializes them (and the buckets of every tier that hold them) and deletes the rows, the views compute those buckets from the raw readings.';
COMMENT ON COLUMN telemetry.rollup_invalidations.bucket IS 'Start of the 1-minute bucket.';

CREATE FUNCTION telemetry.rollup_watermark(tier text)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT w.materialized_until FROM telemetry.rollup_watermarks w WHERE w.tier = rollup_watermark.tier $$;
COMMENT ON FUNCTION telemetry.rollup_watermark(text) IS
  'rollup_watermark(tier): the tier''s materialized_until in telemetry.rollup_watermarks (NULL: nothing materialized, or no such tier); what the views telemetry.rollup_<tier> read.';

-- The materialized rows: one hypertable per tier, keyed (series_id, bucket), written only by
-- materialize_rollups() and rebuild_rollups() (owned by the pipeline, see sql/grants.sql);
-- bucket is the start of the bucket, placed as date_bin(width, time, '1970-01-01 UTC') places
-- it. The views: the materialized rows below the watermark that no late reading invalidated,
-- then the buckets at or above the watermark from the raw readings, then the invalidated ones
-- from the raw readings. Quals on series_id and bucket reach every part.
DO $$
DECLARE
  t record;
  width text;
  summary text;
  watermark text;
  tsdb name := (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'timescaledb');
BEGIN
  FOR t IN SELECT r.tier, r.bucket_width, r.percentiles,
                  CASE r.tier WHEN '1m' THEN interval '7 days' WHEN '5m' THEN interval '30 days'
                              WHEN '15m' THEN interval '90 days' WHEN '1h' THEN interval '180 days'
                              ELSE interval '2 years' END AS chunk
             FROM telemetry.rollup_tiers() r LOOP
    EXECUTE pg_catalog.format(
      'CREATE TABLE telemetry.%I (
         series_id integer NOT NULL,
         bucket    timestamptz NOT NULL,
         summary   telemetry.summary NOT NULL,
         PRIMARY KEY (series_id, bucket))', 'rollup_' || t.tier || '_materialized');
    EXECUTE pg_catalog.format('COMMENT ON TABLE telemetry.%I IS %L', 'rollup_' || t.tier || '_materialized',
      pg_catalog.format('The materialized rows of the %s rollup tier (hypertable, %s chunks): one telemetry.summary per series and %s bucket%s, for buckets before its watermark (telemetry.rollup_watermarks), written in bulk by telemetry.materialize_rollups(). An implementation detail: query telemetry.rollup_%s, which is exact at any moment.',
        t.tier, t.chunk, t.bucket_width,
        CASE WHEN t.percentiles THEN ', with a percentile sketch' ELSE ', without percentiles' END, t.tier));
    EXECUTE pg_catalog.format('COMMENT ON COLUMN telemetry.%I.bucket IS %L', 'rollup_' || t.tier || '_materialized',
      'Start of the bucket (UTC-aligned multiples of its width since 1970-01-01).');
    EXECUTE pg_catalog.format('COMMENT ON COLUMN telemetry.%I.summary IS %L', 'rollup_' || t.tier || '_materialized',
      'The summary of the readings of the series in the bucket.');
    IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
      EXECUTE pg_catalog.format(
        'SELECT %1$I.create_hypertable(%2$L::pg_catalog.regclass, %1$I.by_range(%3$L::pg_catalog.name, interval %4$L),
                                       false, false, false)',
        tsdb, 'telemetry.rollup_' || t.tier || '_materialized', 'bucket', t.chunk);
    END IF;
    -- Widths as seconds, so that bucket + width is the same in every time zone.
    width := pg_catalog.format('interval %L', pg_catalog.date_part('epoch', t.bucket_width)::bigint || ' seconds');
    summary := CASE WHEN t.percentiles THEN 'telemetry.summarize(r.time, r.value, r.quality, r.flags, r.source_quality)'
                    ELSE 'telemetry.without_percentiles(telemetry.summarize(r.time, r.value, r.quality, r.flags, r.source_quality))' END;
    watermark := pg_catalog.format('telemetry.rollup_watermark(%L)', t.tier);
    -- The parts from raw go series by series (and bucket by bucket) through the index on
    -- (series_id, time): readings has no index on time alone (OFFSET 0 keeps the planner from
    -- flattening the lateral scan into a join it might hash over a whole chunk). There the
    -- watermark is a stable function, so TimescaleDB leaves out the chunks before it at
    -- executor startup; in the filters it is a subquery, evaluated once.
    EXECUTE pg_catalog.format(
      'CREATE VIEW telemetry.%1$I AS
       SELECT m.series_id, m.bucket, m.summary
         FROM telemetry.%2$I m
        WHERE m.bucket < (SELECT %3$s)
          AND NOT EXISTS (SELECT FROM telemetry.rollup_invalidations i
                           WHERE i.series_id = m.series_id AND i.bucket >= m.bucket AND i.bucket < m.bucket + %4$s)
       UNION ALL
       SELECT r.series_id, pg_catalog.date_bin(%4$s, r.time, timestamptz %6$L) AS bucket, %5$s AS summary
         FROM telemetry.series s
        CROSS JOIN LATERAL (
              SELECT r.series_id, r.time, r.value, r.quality, r.flags, r.source_quality
                FROM telemetry.readings r
               WHERE r.series_id = s.series_id AND r.time >= coalesce(%3$s, ''-infinity'')
              OFFSET 0) r
        GROUP BY 1, 2
       UNION ALL
       SELECT i.series_id, i.bucket, x.summary
         FROM (SELECT DISTINCT i.series_id, pg_catalog.date_bin(%4$s, i.bucket, timestamptz %6$L) AS bucket
                 FROM telemetry.rollup_invalidations i) i
        CROSS JOIN LATERAL (
              SELECT %5$s AS summary
                FROM telemetry.readings r
               WHERE r.series_id = i.series_id AND r.time >= i.bucket AND r.time < i.bucket + %4$s) x
        WHERE i.bucket < (SELECT %3$s) AND x.summary IS NOT NULL',
      'rollup_' || t.tier, 'rollup_' || t.tier || '_materialized', watermark, width, summary, '1970-01-01 00:00:00+00');
    EXECUTE pg_catalog.format('COMMENT ON VIEW telemetry.%I IS %L', 'rollup_' || t.tier,
      pg_catalog.format('The %s rollup tier: one telemetry.summary per series and %s bucket%s, exactly the raw readings at any moment: the materialized rows (telemetry.rollup_%s_materialized) below the watermark that no late reading invalidated, and the rest summarised from telemetry.readings as it is read. Read it with the accessors (telemetry.mean(summary), ...), combine rows with telemetry.rollup(summary), or use telemetry.sensor_readings_%s by name.',
        t.tier, t.bucket_width, CASE WHEN t.percentiles THEN ', with a percentile sketch' ELSE ', without percentiles' END,
        t.tier, t.tier));
    EXECUTE pg_catalog.format(
      'CREATE VIEW telemetry.%I AS
       SELECT r.bucket, s.site_id, s.asset_id, s.sensor_id, s.metric, m.unit, r.series_id, r.summary,
              telemetry.num_vals(r.summary) AS samples, telemetry.mean(r.summary) AS mean,
              telemetry.min_val(r.summary) AS min, telemetry.max_val(r.summary) AS max,
              telemetry.stddev(r.summary) AS stddev, telemetry.good_count(r.summary) AS good_count,
              telemetry.bad_count(r.summary) AS bad_count
         FROM telemetry.%I r
         JOIN telemetry.series s ON s.series_id = r.series_id
         JOIN telemetry.metric_rules m ON m.metric = s.metric', 'sensor_readings_' || t.tier, 'rollup_' || t.tier);
    EXECUTE pg_catalog.format('COMMENT ON VIEW telemetry.%I IS %L', 'sensor_readings_' || t.tier,
      pg_catalog.format('telemetry.rollup_%s by name (site, asset, sensor, metric, unit), with the common accessors as columns; summary is there for the others and for telemetry.rollup().', t.tier));
  END LOOP;
END $$;

CREATE VIEW telemetry.sensor_readings AS
SELECT r.time, s.site_id, s.asset_id, s.sensor_id, s.metric, m.unit, r.value, r.quality, r.flags,
       r.source_quality, r.ingested_at, r.series_id
  FROM telemetry.readings r
  JOIN telemetry.series s ON s.series_id = r.series_id
  JOIN telemetry.metric_rules m ON m.metric = s.metric;
COMMENT ON VIEW telemetry.sensor_readings IS
  'The raw readings by name (site, asset, sensor, metric and the canonical unit of the value), as seed 000''s sensor_readings; telemetry.sensor_readings_1m to _1d are the rollup tiers the same way.';

-- Materialize one tier's buckets that begin in [lo, hi) (and, with keys, only those of the
-- (series, 1-minute bucket) pairs given) from its source: the raw readings, or the tier below
-- when that one keeps percentiles. Rows there are replaced. Returns the buckets written.
CREATE FUNCTION telemetry.materialize_tier(tier text, lo timestamptz, hi timestamptz,
                                           key_series integer[] DEFAULT NULL, key_buckets timestamptz[] DEFAULT NULL,
                                           series_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t record;
  target text := pg_catalog.format('telemetry.%I', 'rollup_' || materialize_tier.tier || '_materialized');
  source text;
  summary text;
  at text;
  keys text;
  n bigint;
  origin constant timestamptz := '1970-01-01 00:00:00+00';
BEGIN
  SELECT x.* INTO t FROM (SELECT r.tier, r.percentiles,
                                 pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', r.bucket_width)::float8) AS width,
                                 pg_catalog.lag(r.tier) OVER w AS below_tier, pg_catalog.lag(r.percentiles) OVER w AS below_percentiles
                            FROM telemetry.rollup_tiers() WITH ORDINALITY r WINDOW w AS (ORDER BY r.ordinality)) x
   WHERE x.tier = materialize_tier.tier;
  IF coalesce(t.below_percentiles, false) THEN
    source := pg_catalog.format('telemetry.%I', 'rollup_' || t.below_tier || '_materialized');
    at := 'bucket';
    summary := 'telemetry.rollup(s.summary)';
  ELSE
    source := 'telemetry.readings';
    at := 'time';
    summary := CASE WHEN t.percentiles THEN 'telemetry.summarize(s.time, s.value, s.quality, s.flags, s.source_quality)'
                    ELSE 'telemetry.without_percentiles(telemetry.summarize(s.time, s.value, s.quality, s.flags, s.source_quality))' END;
  END IF;
  IF key_series IS NULL THEN
    EXECUTE pg_catalog.format('DELETE FROM %s m WHERE m.bucket >= $1 AND m.bucket < $2 AND ($3 IS NULL OR m.series_id = $3)', target)
      USING lo, hi, materialize_tier.series_id;
    EXECUTE pg_catalog.format(
      'INSERT INTO %s (series_id, bucket, summary)
       SELECT s.series_id, pg_catalog.date_bin($1, s.%I, $2), %s FROM %s s
        WHERE s.%2$I >= $3 AND s.%2$I < $4 AND ($5 IS NULL OR s.series_id = $5) GROUP BY 1, 2',
      target, at, summary, source) USING t.width, origin, lo, hi, materialize_tier.series_id;
  ELSE
    keys := 'SELECT DISTINCT k.s, pg_catalog.date_bin($1, k.b, $2) AS b
               FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.int4[]), pg_catalog.unnest($4::pg_catalog.timestamptz[])) AS k (s, b)
              WHERE pg_catalog.date_bin($1, k.b, $2) >= $5 AND pg_catalog.date_bin($1, k.b, $2) < $6';
    EXECUTE pg_catalog.format('DELETE FROM %s m USING (%s) k WHERE m.series_id = k.s AND m.bucket = k.b', target, keys)
      USING t.width, origin, key_series, key_buckets, lo, hi;
    EXECUTE pg_catalog.format(
      'INSERT INTO %s (series_id, bucket, summary)
       SELECT k.s, k.b, %s FROM (%s) k JOIN %s s ON s.series_id = k.s AND s.%I >= k.b AND s.%5$I < k.b + $1
        GROUP BY 1, 2',
      target, summary, keys, source, at) USING t.width, origin, key_series, key_buckets, lo, hi;
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION telemetry.materialize_tier(text, timestamptz, timestamptz, integer[], timestamptz[], integer) IS
  'materialize_tier(tier, lo, hi, key_series => NULL, key_buckets => NULL, series_id => NULL): internal to telemetry.materialize_rollups() and telemetry.rebuild_rollups(): replace the materialized rows of the tier''s buckets that begin in [lo, hi) (of one series, or of the (series, 1-minute bucket) pairs given) by the summary of their source, the raw readings or the tier below when that one keeps percentiles; returns the rows written.';

-- Maintenance: the closed buckets in bulk, set-wise, and the invalidated ones again. Batches
-- that store readings take the advisory lock 'telemetry.rollup_watermark' shared before they
-- read the 1-minute watermark and hold it to their commit; this run takes it exclusively, so
-- it waits for the batches that read the old watermark to commit (its statements then see
-- their readings) and later batches read the new one (and record what they add below it as
-- late). Batches wait for a run meanwhile: max_buckets bounds it.
CREATE FUNCTION telemetry.materialize_rollups(max_buckets bigint DEFAULT 100000, settle interval DEFAULT '1 minute',
                                              quiet boolean DEFAULT false, lock_wait interval DEFAULT '2 seconds')
RETURNS TABLE (tier text, materialized_until timestamptz, buckets bigint, rematerialized bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t record;
  inv_series integer[];
  inv_buckets timestamptz[];
  below timestamptz;
  first boolean := true;
  closed timestamptz;
  upto timestamptz;
  width interval;
  span bigint;
  saved_timeout text;
  origin constant timestamptz := '1970-01-01 00:00:00+00';
BEGIN
  IF max_buckets IS NULL OR max_buckets < 1 OR settle IS NULL OR settle < interval '0'
     OR lock_wait IS NULL OR lock_wait <= interval '0' THEN
    RAISE EXCEPTION 'materialize_rollups: max_buckets (%) must be at least 1, settle (%) not negative and lock_wait (%) positive',
      max_buckets, settle, lock_wait
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('telemetry.materialize_rollups')) THEN
    RETURN;
  END IF;
  -- While this waits, batches that would take the lock wait behind it: an ingest transaction
  -- left open would stall them all, so give up after lock_wait and try again next run.
  saved_timeout := pg_catalog.current_setting('lock_timeout');
  PERFORM pg_catalog.set_config('lock_timeout', (pg_catalog.date_part('epoch', lock_wait) * 1000)::bigint::text, true);
  BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('telemetry.rollup_watermark'));
  EXCEPTION WHEN lock_not_available THEN
    PERFORM pg_catalog.set_config('lock_timeout', saved_timeout, true);
    RAISE WARNING 'telemetry: rollups not materialized this run: an ingest transaction held the watermark lock for more than %', lock_wait
      USING HINT = 'Look for sessions idle in a transaction that ingested (pg_stat_activity).';
    RETURN;
  END;
  PERFORM pg_catalog.set_config('lock_timeout', saved_timeout, true);
  -- A new statement, a new snapshot: every batch that read the old watermark has committed.
  SELECT pg_catalog.array_agg(i.series_id ORDER BY i.series_id, i.bucket), pg_catalog.array_agg(i.bucket ORDER BY i.series_id, i.bucket)
    INTO inv_series, inv_buckets
    FROM (SELECT x.series_id, x.bucket FROM telemetry.rollup_invalidations x ORDER BY 1, 2 LIMIT max_buckets) i;
  DELETE FROM telemetry.rollup_invalidations x
   USING ROWS FROM (pg_catalog.unnest(inv_series), pg_catalog.unnest(inv_buckets)) AS k (s, b)
   WHERE x.series_id = k.s AND x.bucket = k.b;
  span := greatest(1, max_buckets / greatest(1, (SELECT pg_catalog.count(*) FROM telemetry.series)));
  FOR t IN SELECT r.tier, r.bucket_width, x.materialized_until AS until
             FROM telemetry.rollup_tiers() WITH ORDINALITY r JOIN telemetry.rollup_watermarks x ON x.tier = r.tier
            ORDER BY r.ordinality LOOP
    tier := t.tier;
    width := pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', t.bucket_width)::float8);
    materialized_until := t.until;
    rematerialized := 0;
    buckets := 0;
    -- Late readings: their buckets of this tier again, below the watermark (the tiers below
    -- were done first).
    IF materialized_until IS NOT NULL AND inv_series IS NOT NULL THEN
      rematerialized := telemetry.materialize_tier(t.tier, '-infinity', materialized_until, inv_series, inv_buckets);
    END IF;
    -- Closed buckets, never past the tier below; the first time from the oldest reading.
    closed := pg_catalog.date_bin(width, pg_catalog.now() - settle, origin);
    IF NOT first THEN
      closed := least(closed, pg_catalog.date_bin(width, coalesce(below, '-infinity'), origin));
    END IF;
    IF materialized_until IS NULL THEN
      materialized_until := pg_catalog.date_bin(width, (SELECT pg_catalog.min(r.time) FROM telemetry.readings r), origin);
    END IF;
    IF materialized_until < closed THEN
      -- At most span buckets from the first that holds readings; the rest at once if none does.
      upto := least(closed, coalesce(pg_catalog.date_bin(width, (SELECT pg_catalog.min(r.time) FROM telemetry.readings r
                                                                   WHERE r.time >= materialized_until AND r.time < closed), origin),
                                     closed) + width * span);
      IF NOT EXISTS (SELECT FROM telemetry.readings r WHERE r.time >= upto AND r.time < closed) THEN
        upto := closed;
      END IF;
      buckets := telemetry.materialize_tier(t.tier, materialized_until, upto);
      materialized_until := upto;
      UPDATE telemetry.rollup_watermarks x SET materialized_until = upto WHERE x.tier = t.tier;
      IF upto < closed THEN
        IF quiet THEN
          RAISE LOG 'telemetry: rollup tier % materialized until %; the next runs go on from there', t.tier, upto;
        ELSE
          RAISE NOTICE 'telemetry: rollup tier % materialized until %; the next runs go on from there', t.tier, upto;
        END IF;
      END IF;
    END IF;
    below := materialized_until;
    first := false;
    RETURN NEXT;
  END LOOP;
END $$;
COMMENT ON FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) IS
  'materialize_rollups(max_buckets => 100000, settle => ''1 minute'', quiet => false, lock_wait => ''2 seconds''): materialize the rollup tiers: first the buckets of late readings again (telemetry.rollup_invalidations, at most max_buckets of them, and their buckets in every tier), then the closed buckets (ended at least settle ago) after each tier''s watermark, in bulk from the raw readings (1m and 5m) or the tier below (15m, 1h, 1d), at most about max_buckets per tier, advancing the watermark; a catch-up that needs more runs says how far it got in a NOTICE (a LOG line when quiet). Returns per tier its watermark, the buckets materialized and the buckets re-materialized. The views telemetry.rollup_<tier> are exact whether it ran or not; it makes them cheap. Ingest waits while it runs; if ingest transactions keep it waiting for the watermark lock longer than lock_wait, it gives up with a WARNING and returns no rows (the next run tries again). Safe to run concurrently (one run works, the others return at once) and repeatedly. telemetry.run_maintenance() runs it quietly, before retention. Bad arguments raise 22023. For telemetry_admin.';

-- Rebuild: what a DBA runs after deleting or changing readings behind the pipeline's back
-- (merge_metric calls it for the series it converts or joins): the materialized rows of the
-- range again from the raw readings, under the same locks as maintenance. Buckets that begin
-- before the oldest chunk of raw readings left are never touched: retention may have dropped
-- their readings. Buckets at or above a watermark are computed from raw anyway.
CREATE FUNCTION telemetry.rebuild_rollups(series_id integer DEFAULT NULL, since timestamptz DEFAULT NULL,
                                          until timestamptz DEFAULT NULL)
RETURNS TABLE (tier text, buckets bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t record;
  oldest timestamptz;
  lo timestamptz;
  hi timestamptz;
  width interval;
  origin constant timestamptz := '1970-01-01 00:00:00+00';
BEGIN
  IF NOT (since IS NULL OR pg_catalog.isfinite(since)) OR NOT (until IS NULL OR pg_catalog.isfinite(until))
     OR since >= until THEN
    RAISE EXCEPTION 'rebuild_rollups: since (%) and until (%) must be finite with since before until', since, until
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('telemetry.materialize_rollups'));
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('telemetry.rollup_watermark'));
  SELECT pg_catalog.min(ch.range_start) INTO oldest
    FROM timescaledb_information.chunks ch
   WHERE ch.hypertable_schema = 'telemetry' AND ch.hypertable_name = 'readings';
  FOR t IN SELECT r.tier, r.bucket_width, x.materialized_until AS until
             FROM telemetry.rollup_tiers() WITH ORDINALITY r JOIN telemetry.rollup_watermarks x ON x.tier = r.tier
            ORDER BY r.ordinality LOOP
    tier := t.tier;
    buckets := 0;
    width := pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', t.bucket_width)::float8);
    IF oldest IS NOT NULL AND t.until IS NOT NULL THEN
      -- Whole buckets only, from the later of since and the oldest raw chunk, below the watermark.
      lo := pg_catalog.date_bin(width, GREATEST(since, oldest), origin);
      IF lo < oldest THEN
        lo := lo + width;
      END IF;
      hi := CASE WHEN until IS NULL THEN t.until
                 WHEN pg_catalog.date_bin(width, until, origin) = until THEN least(until, t.until)
                 ELSE least(pg_catalog.date_bin(width, until, origin) + width, t.until) END;
      IF lo < hi THEN
        buckets := telemetry.materialize_tier(t.tier, lo, hi, series_id => rebuild_rollups.series_id);
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
COMMENT ON FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz) IS
  'rebuild_rollups(series_id => NULL, since => NULL, until => NULL): recompute the materialized rollup rows from the raw readings, for one series or all, for the buckets that overlap [since, until) (NULL: unbounded), and return how many buckets each tier now holds materialized there. For after readings were deleted or changed other than by ingest (what ingest stores needs nothing). Buckets that begin before the oldest chunk of raw readings are left as they are (their readings may be gone by retention). Waits for a maintenance run and holds up ingest while it runs. Bad ranges raise 22023. For telemetry_admin.';

-- sql/retention.sql:
-- telemetry: retention per tier, applied by telemetry.apply_retention(), which
-- telemetry.run_maintenance() (and so the background worker) runs. Raw readings and each rollup
-- tier age out on their own: dropping raw chunks never changes a rollup, since raw readings are
-- dropped only once every tier has materialized them and no late reading of theirs awaits
-- materializing again.

CREATE TABLE telemetry.retention (
    tier         text PRIMARY KEY CHECK (tier IN ('raw', '1m', '5m', '15m', '1h', '1d')),
    keep         interval NOT NULL CHECK (keep > interval '0'),
    archive_with regprocedure CHECK (archive_with IS NULL OR tier = 'raw')
);
COMMENT ON TABLE telemetry.retention IS
  'How long each tier is kept: raw (telemetry.readings) and the rollup tiers 1m, 5m, 15m, 1h and 1d. telemetry.apply_retention() drops the chunks that ended more than keep ago. Defaults from seed 000: raw 90 days, 1m 1 year, 5m 3 years, 15m, 1h and 1d 5 years. telemetry_admin may change keep; archive_with only a superuser.';
COMMENT ON COLUMN telemetry.retention.tier IS 'raw (telemetry.readings) or a rollup tier of telemetry.rollup_tiers() (its materialized rows, telemetry.rollup_<tier>_materialized).';
COMMENT ON COLUMN telemetry.retention.keep IS 'How long the tier keeps its data; whole chunks are dropped once they ended longer ago.';
COMMENT ON COLUMN telemetry.retention.archive_with IS
  'raw only: a function (chunk regclass, range_start timestamptz, range_end timestamptz) called for each chunk of readings before it is dropped, e.g. one that runs COPY ... TO PROGRAM ''gzip > ...''. It runs with the rights of the extension owner; an error in it keeps the chunk (and fails the run). Only a superuser may set it.';

DO $seed$
BEGIN
  IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') <> 'on' THEN
    INSERT INTO telemetry.retention (tier, keep) VALUES
      ('raw', interval '90 days'), ('1m', interval '1 year'), ('5m', interval '3 years'),
      ('15m', interval '5 years'), ('1h', interval '5 years'), ('1d', interval '5 years');
  END IF;
END $seed$;

-- It drops chunks of tables it owns and calls the archive function a superuser chose, so it runs
-- as the extension owner (SECURITY DEFINER); a transaction-level advisory lock lets one run at
-- a time do the work, a concurrent one returns at once, and a repeated one finds nothing left.
CREATE FUNCTION telemetry.apply_retention(quiet boolean DEFAULT false)
RETURNS TABLE (tier text, chunk text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r telemetry.retention;
  c record;
  rel text;
  cutoff timestamptz;
  tsdb name := (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'timescaledb');
BEGIN
  IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('telemetry.apply_retention')) THEN
    RETURN;
  END IF;
  IF NOT quiet AND telemetry.timescaledb_license() = 'apache' THEN
    RAISE NOTICE 'telemetry: compression of old raw chunks is unavailable on the Apache edition of TimescaleDB (timescaledb.license = apache); raw readings stay uncompressed until retention drops them';
  END IF;
  FOR r IN SELECT * FROM telemetry.retention x ORDER BY x.tier LOOP
    rel := CASE r.tier WHEN 'raw' THEN 'readings' ELSE 'rollup_' || r.tier || '_materialized' END;
    cutoff := pg_catalog.now() - r.keep;
    IF r.tier = 'raw' THEN
      cutoff := least(cutoff,
                      (SELECT pg_catalog.min(coalesce(w.materialized_until, '-infinity')) FROM telemetry.rollup_watermarks w),
                      (SELECT pg_catalog.min(i.bucket) FROM telemetry.rollup_invalidations i));
    END IF;
    CONTINUE WHEN NOT pg_catalog.isfinite(cutoff);
    IF r.archive_with IS NOT NULL THEN
      FOR c IN SELECT pg_catalog.format('%I.%I', ch.chunk_schema, ch.chunk_name)::pg_catalog.regclass AS chunk,
                      ch.range_start, ch.range_end
                 FROM timescaledb_information.chunks ch
                WHERE ch.hypertable_schema = 'telemetry' AND ch.hypertable_name = rel AND ch.range_end <= cutoff
                ORDER BY ch.range_start LOOP
        EXECUTE pg_catalog.format('SELECT %s($1, $2, $3)', r.archive_with::pg_catalog.oid::pg_catalog.regproc)
          USING c.chunk, c.range_start, c.range_end;
      END LOOP;
    END IF;
    FOR chunk IN EXECUTE pg_catalog.format('SELECT %I.drop_chunks(%L::pg_catalog.regclass, older_than => $1)',
                                           tsdb, 'telemetry.' || rel) USING cutoff LOOP
      tier := r.tier;
      RETURN NEXT;
    END LOOP;
  END LOOP;
END $$;
COMMENT ON FUNCTION telemetry.apply_retention(boolean) IS
  'apply_retention(quiet => false): drop the chunks of telemetry.readings and of each rollup tier''s materialized rows that ended more than telemetry.retention.keep ago, archiving each raw chunk first through telemetry.retention.archive_with if set; returns the chunks dropped. Rollups are never changed by dropping raw chunks: raw chunks wait until every tier has materialized them (telemetry.rollup_watermarks) and no late reading of theirs awaits materializing again (telemetry.rollup_invalidations). Safe to run concurrently (one run works, the others return at once) and repeatedly. On the Apache edition it says, in one NOTICE, that compression is unavailable (not when quiet). telemetry.run_maintenance() runs it quietly. For telemetry_admin.';

-- pg_dump keeps every row, the defaults as the DBA edited them too.
SELECT pg_catalog.pg_extension_config_dump('telemetry.retention', '');

-- merge_metric keeps the rollups right (sql/metric_registration.sql).
CREATE OR REPLACE FUNCTION telemetry.merge_metric(metric text, into_metric text, note text DEFAULT NULL)
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

-- sql/grants.sql:
-- Rollups (sql/rollups.sql) and retention (sql/retention.sql). The pipeline owns the
-- materialized rows, the watermarks and the invalidations, and is the only writer: ingest
-- records late readings' buckets, and telemetry.materialize_rollups() and
-- telemetry.rebuild_rollups() run as it. Everyone who reads readings reads the rollups.
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT r.tier FROM telemetry.rollup_tiers() r LOOP
    EXECUTE pg_catalog.format('ALTER TABLE telemetry.%I OWNER TO telemetry_pipeline', 'rollup_' || t || '_materialized');
    EXECUTE pg_catalog.format('GRANT SELECT ON telemetry.%I, telemetry.%I, telemetry.%I TO telemetry_reader',
                              'rollup_' || t, 'rollup_' || t || '_materialized', 'sensor_readings_' || t);
  END LOOP;
END $$;
ALTER TABLE telemetry.rollup_watermarks OWNER TO telemetry_pipeline;
ALTER TABLE telemetry.rollup_invalidations OWNER TO telemetry_pipeline;
GRANT SELECT ON telemetry.rollup_watermarks, telemetry.rollup_invalidations TO telemetry_reader;
GRANT SELECT ON telemetry.retention TO telemetry_pipeline;
ALTER FUNCTION telemetry.materialize_tier(text, timestamptz, timestamptz, integer[], timestamptz[], integer) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.materialize_tier(text, timestamptz, timestamptz, integer[], timestamptz[], integer) FROM PUBLIC;
ALTER FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) SECURITY DEFINER;
ALTER FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.materialize_rollups(bigint, interval, boolean, interval) TO telemetry_admin, telemetry_pipeline;
GRANT SELECT ON telemetry.sensor_readings, telemetry.retention TO telemetry_reader;
ALTER FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz) SECURITY DEFINER;
ALTER FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz) OWNER TO telemetry_pipeline;
REVOKE ALL ON FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz),
  telemetry.apply_retention(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry.rebuild_rollups(integer, timestamptz, timestamptz),
  telemetry.apply_retention(boolean) TO telemetry_admin;
-- run_maintenance runs as the pipeline and applies retention.
GRANT EXECUTE ON FUNCTION telemetry.apply_retention(boolean) TO telemetry_pipeline;
-- The archive function runs with the rights of the extension owner: only a superuser names it.
GRANT UPDATE (keep) ON telemetry.retention TO telemetry_admin;
-- The aggregates' transition functions are not for calling on their own (they refuse outside
-- an aggregate anyway).
REVOKE ALL ON FUNCTION telemetry.summarize_trans(internal, timestamptz, double precision, real, integer, smallint),
  telemetry.rollup_trans(internal, telemetry.summary), telemetry.summary_final(internal) FROM PUBLIC;

-- sql/function_comments.sql:
-- Rollups (sql/rollups.sql): the summary type's merge, accessors and aggregate parts.
COMMENT ON FUNCTION telemetry.summary_in(cstring) IS 'Input function of telemetry.summary: its JSON text form; malformed text raises 22P02.';
COMMENT ON FUNCTION telemetry.summary_out(telemetry.summary) IS 'Output function of telemetry.summary: its fields as JSON.';
COMMENT ON FUNCTION telemetry.rollup_merge(telemetry.summary, telemetry.summary) IS
  'rollup_merge(a, b): the summary of the readings of both summaries (what the tiers are merged with). Exact for counts, min, max, first and last; mean and variance to floating-point rounding; the percentile sketch is kept only if both have one.';
COMMENT ON FUNCTION telemetry.without_percentiles(telemetry.summary) IS
  'without_percentiles(summary): the same summary without its percentile sketch, as the 1-minute tier stores it.';
COMMENT ON FUNCTION telemetry.summarize_trans(internal, timestamptz, double precision, real, integer, smallint) IS
  'Transition function of the aggregate telemetry.summarize(); not for calling on its own.';
COMMENT ON FUNCTION telemetry.rollup_trans(internal, telemetry.summary) IS
  'Transition function of the aggregate telemetry.rollup(); not for calling on its own.';
COMMENT ON FUNCTION telemetry.summary_final(internal) IS
  'Final function of the aggregates telemetry.summarize() and telemetry.rollup(); not for calling on its own.';
COMMENT ON FUNCTION telemetry.rollup_tiers() IS
  'rollup_tiers(): the rollup tiers (1m, 5m, 15m, 1h, 1d), the width of their buckets and whether they keep percentiles; each is the view telemetry.rollup_<tier> (exact at any moment), its materialized rows telemetry.rollup_<tier>_materialized and the view by name telemetry.sensor_readings_<tier>.';
COMMENT ON FUNCTION telemetry.num_vals(telemetry.summary) IS 'num_vals(summary): how many readings it summarises.';
COMMENT ON FUNCTION telemetry.mean(telemetry.summary) IS 'mean(summary): the mean of the values.';
COMMENT ON FUNCTION telemetry.variance(telemetry.summary, boolean) IS
  'variance(summary, population => false): the sample variance of the values (population => true: the population variance); NULL with too few readings. Kept as the mean and M2 of the parallel algorithm of Chan et al., so it stays exact-to-rounding for large values with small spread.';
COMMENT ON FUNCTION telemetry.stddev(telemetry.summary, boolean) IS
  'stddev(summary, population => false): the sample standard deviation (population => true: the population one); NULL with too few readings.';
COMMENT ON FUNCTION telemetry.min_val(telemetry.summary) IS 'min_val(summary): the smallest value.';
COMMENT ON FUNCTION telemetry.max_val(telemetry.summary) IS 'max_val(summary): the largest value.';
COMMENT ON FUNCTION telemetry.first_val(telemetry.summary) IS 'first_val(summary): the value of the earliest reading by source time.';
COMMENT ON FUNCTION telemetry.last_val(telemetry.summary) IS 'last_val(summary): the value of the latest reading by source time.';
COMMENT ON FUNCTION telemetry.first_time(telemetry.summary) IS 'first_time(summary): the source time of the earliest reading.';
COMMENT ON FUNCTION telemetry.last_time(telemetry.summary) IS 'last_time(summary): the source time of the latest reading.';
COMMENT ON FUNCTION telemetry.good_count(telemetry.summary) IS 'good_count(summary): readings whose source reported GOOD (source_quality 0).';
COMMENT ON FUNCTION telemetry.uncertain_count(telemetry.summary) IS 'uncertain_count(summary): readings whose source reported UNCERTAIN (source_quality 1).';
COMMENT ON FUNCTION telemetry.bad_count(telemetry.summary) IS 'bad_count(summary): readings whose source reported BAD (source_quality 2).';
COMMENT ON FUNCTION telemetry.mean_quality(telemetry.summary) IS 'mean_quality(summary): the mean quality score (telemetry.readings.quality) of the readings.';
COMMENT ON FUNCTION telemetry.flags_seen(telemetry.summary) IS 'flags_seen(summary): the bit-or of the flags of every reading; telemetry.flag_names() spells them out.';
COMMENT ON FUNCTION telemetry.percentile(telemetry.summary, double precision) IS
  'percentile(summary, fraction): the fraction (0..1) percentile from the summary''s sketch, interpolated as percentile_cont does. Guaranteed within relative error 1 % of the exact percentile_cont when the two readings around it have the same sign and are at least 1e-9 from zero, as long as the sketch kept at most 1024 buckets; a wider spread of magnitudes joins buckets and loosens the bound (telemetry.percentile_error() says by how much). NULL without a sketch (the 1-minute tier). A fraction outside 0..1 raises 22023.';
COMMENT ON FUNCTION telemetry.percentile_error(telemetry.summary) IS
  'percentile_error(summary): the relative error bound telemetry.percentile() guarantees for this summary: 0.01 unless its sketch had to join buckets; NULL without a sketch.';
COMMENT ON FUNCTION telemetry.run_maintenance() IS
  'run_maintenance(): all periodic work: what time alone decides for alarms: stale and flat-line conditions, delays by duration, clears the suppression window deferred, shelving expiry, re-alarm, escalation levels falling due, suppression by design; then the rollups (telemetry.materialize_rollups(), quietly); then retention (telemetry.apply_retention(), quietly), which never drops raw readings the rollups have not materialized. Returns how many alarm states it looked at and how many events it recorded. Safe to run concurrently and repeatedly. Run it every few seconds: the background worker does when the library is preloaded, or pg_cron, or a TimescaleDB job. For telemetry_admin.';

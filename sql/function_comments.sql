-- telemetry: the COMMENT of each Rust function that no SQL file needs to exist before it is
-- loaded (finalize, so after pgrx has created them all). Every other object is commented where it
-- is created: the registry, route-pattern and inbox trigger functions in sql/units.sql,
-- sql/routes.sql and sql/inbox.sql, which require them.

-- Units (sql/units.sql).
COMMENT ON FUNCTION telemetry.convert(double precision, text, text) IS
  'convert(value, from_unit, to_unit): value converted between units of one dimension, e.g. convert(212, ''degF'', ''degC'') = 100. Units are codes or aliases from telemetry.units and telemetry.unit_aliases. Unknown units and different dimensions raise 22023. NaN and infinities pass through.';
COMMENT ON FUNCTION telemetry.canonical_unit(text) IS
  'canonical_unit(unit): the code in telemetry.units that a spelling stands for, e.g. canonical_unit(''celsius'') = ''Cel''. Unknown or ambiguous spellings raise 22023.';

-- Metrics (sql/metrics.sql).
COMMENT ON FUNCTION telemetry.normalize_metric(text) IS
  'normalize_metric(name): the canonical metric name for a vendor name: snake_case, then mapped through telemetry.metric_aliases, e.g. normalize_metric(''ActivePowerKW'') = ''active_power''. Empty or over-long names raise 22023.';
COMMENT ON FUNCTION telemetry.metric_unit(text) IS
  'metric_unit(metric): the canonical unit of a metric (any alias), or NULL when the metric is unknown.';
COMMENT ON FUNCTION telemetry.to_canonical(double precision, text, text) IS
  'to_canonical(value, from_unit, metric): a value converted to the canonical unit of its metric, e.g. to_canonical(77, ''degF'', ''temperature'') = 25.';

-- Validation (its result type is in sql/bootstrap.sql).
COMMENT ON FUNCTION telemetry.validate(text, double precision, text) IS
  'validate(metric, value, unit => NULL): ok, below_min, above_max, not_finite, missing (NULL value) or unknown_metric, checked against telemetry.metric_rules. With unit, the value is converted to the canonical unit first.';

-- Quality.
COMMENT ON FUNCTION telemetry.quality_score(text, double precision, timestamptz, timestamptz, text, double precision, timestamptz, double precision, double precision, text) IS
  'quality_score(metric, value, source_time, ingested_at => now(), source_quality => NULL, previous_value, previous_time, recent_mean, recent_stddev, unit): quality 0..1 weighted from completeness, validity, consistency and timeliness (settings telemetry.quality_weight_*), times 1 / telemetry.uncertain_quality_factor / 0 for a GOOD / UNCERTAIN / BAD source. Components without the data to judge them are left out.';
COMMENT ON FUNCTION telemetry.quality_explain(text, double precision, timestamptz, timestamptz, text, double precision, timestamptz, double precision, double precision, text) IS
  'quality_explain(same arguments as quality_score): one row per component with its score, weight and contribution, then the source-quality factor, then the total with the quality flags raised.';
COMMENT ON FUNCTION telemetry.flag_names(integer) IS
  'flag_names(flags): the names of the quality flags set in a telemetry.readings.flags bitmask.';
COMMENT ON FUNCTION telemetry.source_quality_code(text) IS
  'source_quality_code(source_quality): 0 good, 1 uncertain, 2 bad, from GOOD / UNCERTAIN / BAD (OPC UA names such as Bad_SensorFailure too) or a numeric OPC UA status code (decimal or 0x hex). Anything else raises 22023.';

-- De-duplication (sql/dedup.sql).
COMMENT ON FUNCTION telemetry.reading_key(text, text, text, timestamptz, text) IS
  'reading_key(site_id, asset_id, metric, source_time, sensor_id => ''''): a stable UUID (version 5) for a reading; metric aliases give the same key, so repeats and redeliveries are recognised.';

-- Routes (sql/routes.sql).
COMMENT ON FUNCTION telemetry.match_topic(text, text) IS
  'match_topic(pattern, topic): one row with the site_id, asset_id, sensor_id and metric the topic fills under the pattern, or no row when it does not match.';

-- Ingest (sql/ingest.sql) and staging.
COMMENT ON FUNCTION telemetry.ingest(text, bytea, timestamptz) IS
  'ingest(topic, payload, received_at => now()): run one MQTT message (a NULL topic or payload becomes a dead letter too) through the pipeline (route, decode, convert, validate, score, de-duplicate, store) exactly as a batch would. Returns the counts, the dead letters by reason (jsonb), the source times of the oldest and newest reading stored, and the Sparkplug edge nodes (group/edge_node) whose data named an alias no birth declared, which a host application asks for a rebirth. Nothing is dropped silently: what is not stored is in telemetry.dead_letters.';
COMMENT ON FUNCTION telemetry.prepare_staging() IS
  'prepare_staging(): create this session''s staging table pg_temp.telemetry_staging (received_at, topic, payload, and optionally payload_bytes, packet_id, retained, redelivered) if missing and return its name. telemetry.ingest_staged() reads only the rows staged in its own transaction.';
COMMENT ON FUNCTION telemetry.ingest_staged() IS
  'ingest_staged(): run every message staged in pg_temp.telemetry_staging in this transaction through the pipeline in arrival order, empty the table, and return what telemetry.ingest returns for the whole batch: counts, dead letters by reason, source times of the oldest and newest reading stored, Sparkplug edge nodes to ask for a rebirth. Call it in the transaction that filled the table.';
COMMENT ON FUNCTION telemetry.replay_dead_letters(text, text, timestamptz, timestamptz, integer) IS
  'replay_dead_letters(reason => NULL, topic_like => NULL, received_after => NULL, received_before => NULL, batch_size => 1000): run stored dead letters through the pipeline again (NULL filters match all), for example after adding the rule, alias, unit or route they lacked. Each replayed message leaves the dead letters; what fails again is dead-lettered anew, and a reading stored before counts as a duplicate, so nothing is stored twice however often a message is replayed. Returns what telemetry.ingest returns for them all, and how many chosen messages could not be replayed because their dead letter cut the topic or payload. For telemetry_admin.';
COMMENT ON FUNCTION telemetry.load_vocabulary() IS
  'load_vocabulary(): add the shipped metric rules and vendor names that are missing (as builtin rows), keeping every edit of a DBA. Returns how many were added; a shipped alias that is already a metric of its own is skipped and named in a NOTICE. For telemetry_admin.';

-- The row trigger for tables of your own.
COMMENT ON FUNCTION telemetry.clean_row() IS
  'Row trigger for a table of your own: validates, converts to canonical units and scores readings on INSERT or UPDATE. Arguments, key=value each: wide tables name column=metric or column=metric@unit (values arrive in that unit and are converted in place); narrow tables give metric_column, value_column and optionally unit_column; time_column (source time), quality_column (gets the mean score), flags_column (gets the flags) and on_invalid=keep|null|reject for out-of-range or non-finite values are optional.';

-- Alarms (sql/alarms.sql).
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
  'run_maintenance(): all periodic work: what time alone decides for alarms: stale and flat-line conditions, delays by duration, clears the suppression window deferred, shelving expiry, re-alarm, escalation levels falling due, suppression by design; then the rollups (telemetry.materialize_rollups(), quietly); then retention (telemetry.apply_retention(), quietly), which never drops raw readings the rollups have not materialized. Returns how many alarm states it looked at and how many events it recorded. Safe to run concurrently and repeatedly. Run it every few seconds: the background worker does when the library is preloaded, or pg_cron, or a TimescaleDB job. For telemetry_admin.';
COMMENT ON FUNCTION telemetry.alarm_performance(timestamptz, timestamptz) IS
  'alarm_performance(period_start, period_end): the ISA-18.2 figures per site (one operator''s span of control) over a period: alarms raised, average per 10 minutes (ISA-18.2: about 1 is manageable, 2 the most), percent of 10-minute periods in flood (more than 10), and the peak 10 minutes.';
COMMENT ON FUNCTION telemetry.alarm_report(timestamptz, timestamptz) IS
  'alarm_report(period_start, period_end): the alarms that stand out over a period: chattering (3 or more raises within 60 s), stale (active over 24 h at the end), the top 10 contributors, and the priority distribution (raises per severity, with percent).';

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

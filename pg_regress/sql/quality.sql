-- telemetry.quality_score and telemetry.quality_explain. Fixed times keep results stable.
\set t0 'timestamptz ''2025-06-01 12:00:00+00'''
-- A perfect reading.
SELECT telemetry.quality_score('temperature', 20, :t0, :t0 + interval '1 second');
-- Out of range: validity 0, the other components still count.
SELECT telemetry.quality_score('temperature', 500, :t0, :t0);
-- Late by 10 minutes against a 5 minute threshold: timeliness 0.5.
SELECT telemetry.quality_score('temperature', 20, :t0, :t0 + interval '10 minutes');
SELECT * FROM telemetry.quality_explain('temperature', 20, :t0, :t0 + interval '10 minutes');
-- Source quality: strings and OPC UA status codes.
SELECT q, telemetry.source_quality_code(q), telemetry.quality_score('temperature', 20, :t0, :t0, source_quality => q)
  FROM (VALUES ('GOOD'), ('Uncertain'), ('BAD'), ('Bad_SensorFailure'), ('0'), ('0x40000000'), ('0x808D0000'), ('')) AS s (q);
-- Consistency: a spike against max_rate_of_change, an anomaly against recent statistics.
SELECT * FROM telemetry.quality_explain('ambient_temperature', 30, :t0, :t0, previous_value => 10, previous_time => :t0 - interval '5 seconds');
SELECT * FROM telemetry.quality_explain('ambient_temperature', 26, :t0, :t0, recent_mean => 20, recent_stddev => 1.5);
-- Units: 86 degF is 30 degC; the previous value converts too.
SELECT telemetry.quality_score('ambient_temperature', 86, :t0, :t0, previous_value => 50, previous_time => :t0 - interval '5 seconds', unit => 'degF')
     = telemetry.quality_score('ambient_temperature', 30, :t0, :t0, previous_value => 10, previous_time => :t0 - interval '5 seconds') AS unit_aware;
-- Missing pieces: no value, no source time, unknown metric, a time in the future.
SELECT * FROM telemetry.quality_explain('temperature', NULL, :t0, :t0);
SELECT * FROM telemetry.quality_explain('temperature', 20, NULL, :t0);
SELECT * FROM telemetry.quality_explain('no_such_metric', 20, :t0, :t0);
SELECT * FROM telemetry.quality_explain('temperature', 20, :t0 + interval '1 hour', :t0);
SELECT telemetry.quality_score('temperature', 'NaN', :t0, :t0), telemetry.quality_score('temperature', 20, 'infinity', :t0), telemetry.quality_score(NULL, NULL, NULL, NULL);
-- Weights are settings; components are renormalised over those that apply.
SET telemetry.quality_weight_timeliness = 0;
SELECT telemetry.quality_score('temperature', 20, :t0, :t0 + interval '10 minutes');
RESET telemetry.quality_weight_timeliness;
SET telemetry.timeliness_threshold = '15min';
SELECT telemetry.quality_score('temperature', 20, :t0, :t0 + interval '10 minutes');
RESET telemetry.timeliness_threshold;
SET telemetry.uncertain_quality_factor = 0.8;
SELECT telemetry.quality_score('temperature', 20, :t0, :t0, source_quality => 'UNCERTAIN');
RESET telemetry.uncertain_quality_factor;
SET telemetry.quality_weight_validity = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SHOW telemetry.quality_weight_completeness;
-- Flags spell out.
SELECT telemetry.flag_names(0), telemetry.flag_names(1 | 8 | 32), telemetry.flag_names(-1);
-- Bad input.
SELECT telemetry.source_quality_code('excellent');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.quality_score('temperature', 20, :t0, :t0, source_quality => '-1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.quality_score('temperature', 20, :t0, :t0, unit => 'parsec');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

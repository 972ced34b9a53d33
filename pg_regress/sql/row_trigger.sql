-- telemetry.clean_row(): clean rows of the DBA's own tables as they are written.
SET timezone = 'UTC';
-- Seed 002's wide ESP table (REAL columns), temperatures arriving in degF, pressures in psi.
CREATE TABLE esp (
    timestamp TIMESTAMPTZ NOT NULL, device_id TEXT NOT NULL,
    temperature REAL, vibration REAL, pressure REAL, flow_rate REAL,
    data_quality_score REAL DEFAULT 1.0, flags INT);
CREATE TRIGGER clean BEFORE INSERT OR UPDATE ON esp FOR EACH ROW EXECUTE FUNCTION telemetry.clean_row(
  'temperature=temperature@degF', 'vibration=vibration', 'pressure=pressure@psi', 'flow_rate=flow_rate',
  'time_column=timestamp', 'quality_column=data_quality_score', 'flags_column=flags', 'on_invalid=null');
INSERT INTO esp (timestamp, device_id, temperature, vibration, pressure, flow_rate) VALUES
  (now(), 'esp-1', 212, 2.5, 100, 40),
  (now(), 'esp-2', 500, -1, 100, NULL),
  (now(), 'esp-3', 'NaN', 1, NULL, 'Infinity');
SELECT device_id, temperature, vibration, round(pressure::numeric, 2) AS pressure_kpa, flow_rate,
       round(data_quality_score::numeric, 3) AS quality, telemetry.flag_names(flags)
  FROM esp ORDER BY device_id;
-- On UPDATE only changed values are converted: the pressure already in kPa stays as it is.
UPDATE esp SET temperature = 32 WHERE device_id = 'esp-1';
SELECT temperature, round(pressure::numeric, 2) AS pressure_kpa FROM esp WHERE device_id = 'esp-1';
-- A narrow table with metric and unit columns, rejecting invalid values.
CREATE TABLE narrow (ts timestamptz, metric text, value float8, unit text, quality float8);
CREATE TRIGGER clean BEFORE INSERT ON narrow FOR EACH ROW EXECUTE FUNCTION telemetry.clean_row(
  'metric_column=metric', 'value_column=value', 'unit_column=unit', 'time_column=ts', 'quality_column=quality', 'on_invalid=reject');
INSERT INTO narrow VALUES (now() - interval '10 minutes', 'ambient_temperature', 68, 'degF', NULL),
                          (now(), 'SOC', 0.5, '1', NULL), (now(), 'no_such_metric', 7, NULL, NULL);
SELECT metric, value, round(quality::numeric, 3) AS quality FROM narrow ORDER BY metric;
INSERT INTO narrow VALUES (now(), 'humidity', 150, '%', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO narrow VALUES (now(), 'humidity', 50, 'kW', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Bad trigger arguments are reported when the trigger first fires.
CREATE TABLE broken (v float8);
CREATE TRIGGER clean BEFORE INSERT ON broken FOR EACH ROW EXECUTE FUNCTION telemetry.clean_row('on_invalid=maybe', 'v=humidity');
INSERT INTO broken VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE missing_column (v float8);
CREATE TRIGGER clean BEFORE INSERT ON missing_column FOR EACH ROW EXECUTE FUNCTION telemetry.clean_row('nope=humidity');
INSERT INTO missing_column VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Hostile input (0.2.0 security review, finding 10): clean_row attached AFTER or FOR EACH
-- STATEMENT silently did nothing.
CREATE TABLE pg_temp.mine (temperature double precision);
CREATE TRIGGER c AFTER INSERT ON pg_temp.mine FOR EACH ROW EXECUTE FUNCTION telemetry.clean_row('temperature=temperature@degF');
INSERT INTO pg_temp.mine VALUES (212);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER c ON pg_temp.mine;
CREATE TRIGGER c BEFORE INSERT ON pg_temp.mine FOR EACH STATEMENT EXECUTE FUNCTION telemetry.clean_row('temperature=temperature@degF');
INSERT INTO pg_temp.mine VALUES (212);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER c ON pg_temp.mine;

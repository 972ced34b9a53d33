-- telemetry.convert and friends.
SELECT telemetry.convert(212, 'degF', 'degC') AS boiling_c,
       telemetry.convert(32, '°F', 'K') AS freezing_k,
       telemetry.convert(-40, 'celsius', 'fahrenheit') AS same,
       telemetry.convert(300, 'K', 'Cel') AS k_to_c;
-- power, energy, voltage, current, frequency
SELECT telemetry.convert(1500, 'W', 'kW'), telemetry.convert(2.5, 'MW', 'kW'), telemetry.convert(1, 'hp', 'kW');
SELECT telemetry.convert(1, 'kWh', 'J'), telemetry.convert(1500, 'Wh', 'kWh'), telemetry.convert(3.6e9, 'J', 'MWh');
SELECT telemetry.convert(11, 'kV', 'V'), telemetry.convert(250, 'mA', 'A'), telemetry.convert(50, 'Hz', 'kHz');
-- pressure, flow, volume, mass
SELECT telemetry.convert(1, 'bar', 'kPa'), telemetry.convert(14.5038, 'psi', 'bar')::numeric(10,4), telemetry.convert(101325, 'Pa', 'atm');
SELECT telemetry.convert(60, 'L/min', 'm3/h'), telemetry.convert(1, 'gpm', 'L/min')::numeric(10,4), telemetry.convert(1000, 'bpd', 'm3/h')::numeric(10,4);
SELECT telemetry.convert(1, 'gal', 'L')::numeric(10,6), telemetry.convert(1500, 'ml', 'L'), telemetry.convert(1, 'lb', 'kg');
-- speed, ratio, rotation, irradiance, time, angle
SELECT telemetry.convert(36, 'km/h', 'm/s'), telemetry.convert(50, '%', '1'), telemetry.convert(250, 'ppm', '%');
SELECT telemetry.convert(3000, 'rpm', 'rps'), telemetry.convert(1.2, 'kW/m2', 'W/m2'), telemetry.convert(90, 'min', 'h');
SELECT telemetry.convert(180, 'deg', 'rad')::numeric(10,8);
-- Spellings: exact case first, then case-insensitive when unambiguous; Unicode look-alikes.
SELECT telemetry.canonical_unit('KW'), telemetry.canonical_unit('kw'), telemetry.canonical_unit('CELSIUS'),
       telemetry.canonical_unit('℃'), telemetry.canonical_unit(' m³/h '), telemetry.canonical_unit('W/m²');
SELECT telemetry.canonical_unit('MW'), telemetry.canonical_unit('mW');
-- The canonical unit of a metric, and conversion to it.
SELECT telemetry.metric_unit('temperature'), telemetry.metric_unit('SOC'), telemetry.metric_unit('no_such_metric');
SELECT telemetry.to_canonical(77, 'degF', 'temperature'), telemetry.to_canonical(2, 'MW', 'ActivePower');
-- NULLs give NULL (the functions are strict); NaN and infinities pass through.
SELECT telemetry.convert(NULL, 'W', 'kW') IS NULL, telemetry.convert(1, NULL, 'kW') IS NULL;
SELECT telemetry.convert('NaN', 'W', 'kW'), telemetry.convert('Infinity', 'degF', 'degC'), telemetry.convert('-Infinity', 'W', 'kW');
-- Bad input: a clear error naming the unit, SQLSTATE 22023.
\set VERBOSITY sqlstate
SELECT telemetry.convert(1, 'furlong', 'm');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT telemetry.convert(1, 'furlong', 'm');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.convert(1, 'kW', 'degC');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.convert(1, 'mw', 'kW');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.convert(1, 'g', '[g]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.convert(1e308, 'MW', 'W');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.convert(1, '', 'kW');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.convert(1, repeat('k', 100000), 'W');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.to_canonical(1, 'W', 'no_such_metric');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.to_canonical(1, 'W', 'temperature');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A DBA adds a unit and a spelling; both are usable at once.
INSERT INTO telemetry.units (unit, dimension, factor, description) VALUES ('[ton_us]/h', 'mass_flow', 907.18474 / 3600, 'short ton per hour');
INSERT INTO telemetry.units (unit, dimension, factor, description) VALUES ('kg/s', 'mass_flow', 1, 'kilogram per second');
INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('tph', '[ton_us]/h');
SELECT telemetry.convert(3.6, 'tph', 'kg/s')::numeric(10,6);
-- The registry guards itself.
INSERT INTO telemetry.units (unit, dimension, factor) VALUES ('bad', 'x', 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO telemetry.unit_aliases (alias, unit) VALUES ('x', 'no_such_unit');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

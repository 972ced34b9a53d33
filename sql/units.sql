-- telemetry: units of measure (telemetry.convert(), telemetry.canonical_unit()): the units and
-- unit_aliases registries, the rows shipped in them (builtin = true), and what keeps the Rust
-- functions' cached copy of them current.
-- Registries the DBA edits carry a `builtin` flag: rows we ship are builtin.

CREATE TABLE telemetry.units (
    unit        text PRIMARY KEY CHECK (pg_catalog.length(unit) BETWEEN 1 AND 64),
    dimension   text NOT NULL CHECK (pg_catalog.length(dimension) BETWEEN 1 AND 64),
    factor      double precision NOT NULL CHECK (factor > 0 AND factor < 'Infinity'),
    "offset"    double precision NOT NULL DEFAULT 0 CHECK ("offset" > '-Infinity' AND "offset" < 'Infinity'),
    description text,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE telemetry.units IS
  'Units of measure. A value v in this unit is (v + offset) * factor in the base unit of its dimension (K, W, J, Pa, m3, m3/s, ...). Codes follow UCUM where UCUM has one.';
COMMENT ON COLUMN telemetry.units.unit IS 'Canonical code, case-sensitive (mW is milliwatt, MW is megawatt).';
COMMENT ON COLUMN telemetry.units.dimension IS 'Physical dimension; only units of the same dimension convert into each other.';
COMMENT ON COLUMN telemetry.units.factor IS 'Multiplier to the base unit of the dimension, applied after the offset.';
COMMENT ON COLUMN telemetry.units."offset" IS 'Added before the factor; non-zero only for affine scales (degC, degF).';
COMMENT ON COLUMN telemetry.units.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';

CREATE TABLE telemetry.unit_aliases (
    alias   text PRIMARY KEY CHECK (pg_catalog.length(alias) BETWEEN 1 AND 64),
    unit    text NOT NULL REFERENCES telemetry.units (unit) ON UPDATE CASCADE ON DELETE CASCADE,
    builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE telemetry.unit_aliases IS
  'Other spellings of a unit as devices send them ("celsius", "°C", "C", "KW"). Matched exactly first, then case-insensitively when that is unambiguous.';
COMMENT ON COLUMN telemetry.unit_aliases.builtin IS 'Shipped with the extension (a DBA may still edit or delete it).';

-- The units and spellings shipped with the extension. A value v in a unit is (v + offset) *
-- factor in the base unit of its dimension. Under pg_restore (after timescaledb_pre_restore())
-- the dump brings these rows, as edited.
DO $seed$
BEGIN
IF coalesce(pg_catalog.current_setting('timescaledb.restoring', true), 'off') = 'on' THEN
  RETURN;
END IF;

INSERT INTO telemetry.units (unit, dimension, factor, "offset", description, builtin) VALUES
  ('K',            'temperature',      1,                      0,      'kelvin', true),
  ('Cel',          'temperature',      1,                      273.15, 'degree Celsius', true),
  ('[degF]',       'temperature',      5::float8 / 9,          459.67, 'degree Fahrenheit', true),
  ('W',            'power',            1,                      0, 'watt', true),
  ('mW',           'power',            1e-3,                   0, 'milliwatt', true),
  ('kW',           'power',            1e3,                    0, 'kilowatt', true),
  ('MW',           'power',            1e6,                    0, 'megawatt', true),
  ('GW',           'power',            1e9,                    0, 'gigawatt', true),
  ('[HP]',         'power',            745.69987158227022,     0, 'mechanical horsepower', true),
  ('var',          'reactive_power',   1,                      0, 'volt-ampere reactive', true),
  ('kvar',         'reactive_power',   1e3,                    0, 'kilovar', true),
  ('Mvar',         'reactive_power',   1e6,                    0, 'megavar', true),
  ('VA',           'apparent_power',   1,                      0, 'volt-ampere', true),
  ('kVA',          'apparent_power',   1e3,                    0, 'kilovolt-ampere', true),
  ('MVA',          'apparent_power',   1e6,                    0, 'megavolt-ampere', true),
  ('J',            'energy',           1,                      0, 'joule', true),
  ('kJ',           'energy',           1e3,                    0, 'kilojoule', true),
  ('MJ',           'energy',           1e6,                    0, 'megajoule', true),
  ('mWh',          'energy',           3.6,                    0, 'milliwatt-hour', true),
  ('Wh',           'energy',           3600,                   0, 'watt-hour', true),
  ('kWh',          'energy',           3.6e6,                  0, 'kilowatt-hour', true),
  ('MWh',          'energy',           3.6e9,                  0, 'megawatt-hour', true),
  ('GWh',          'energy',           3.6e12,                 0, 'gigawatt-hour', true),
  ('[Btu_IT]',     'energy',           1055.05585262,          0, 'British thermal unit (IT)', true),
  ('V',            'voltage',          1,                      0, 'volt', true),
  ('mV',           'voltage',          1e-3,                   0, 'millivolt', true),
  ('kV',           'voltage',          1e3,                    0, 'kilovolt', true),
  ('A',            'current',          1,                      0, 'ampere', true),
  ('mA',           'current',          1e-3,                   0, 'milliampere', true),
  ('kA',           'current',          1e3,                    0, 'kiloampere', true),
  ('A.s',          'charge',           1,                      0, 'ampere-second (coulomb)', true),
  ('A.h',          'charge',           3600,                   0, 'ampere-hour', true),
  ('mA.h',         'charge',           3.6,                    0, 'milliampere-hour', true),
  ('Ohm',          'resistance',       1,                      0, 'ohm', true),
  ('kOhm',         'resistance',       1e3,                    0, 'kilo-ohm', true),
  ('MOhm',         'resistance',       1e6,                    0, 'mega-ohm', true),
  ('mOhm',         'resistance',       1e-3,                   0, 'milliohm (cell internal resistance)', true),
  ('Hz',           'frequency',        1,                      0, 'hertz', true),
  ('kHz',          'frequency',        1e3,                    0, 'kilohertz', true),
  ('Pa',           'pressure',         1,                      0, 'pascal', true),
  ('hPa',          'pressure',         1e2,                    0, 'hectopascal', true),
  ('kPa',          'pressure',         1e3,                    0, 'kilopascal', true),
  ('MPa',          'pressure',         1e6,                    0, 'megapascal', true),
  ('bar',          'pressure',         1e5,                    0, 'bar', true),
  ('mbar',         'pressure',         1e2,                    0, 'millibar', true),
  ('[psi]',        'pressure',         6894.757293168361,      0, 'pound-force per square inch', true),
  ('atm',          'pressure',         101325,                 0, 'standard atmosphere', true),
  ('mm[Hg]',       'pressure',         133.322387415,          0, 'millimetre of mercury', true),
  ('m3',           'volume',           1,                      0, 'cubic metre', true),
  ('L',            'volume',           1e-3,                   0, 'litre', true),
  ('mL',           'volume',           1e-6,                   0, 'millilitre', true),
  ('[gal_us]',     'volume',           0.003785411784,         0, 'US gallon', true),
  ('[gal_br]',     'volume',           0.00454609,             0, 'imperial gallon', true),
  ('[bbl_us]',     'volume',           0.158987294928,         0, 'oil barrel', true),
  ('m3/s',         'volume_flow',      1,                      0, 'cubic metre per second', true),
  ('m3/h',         'volume_flow',      1::float8 / 3600,       0, 'cubic metre per hour', true),
  ('L/s',          'volume_flow',      1e-3,                   0, 'litre per second', true),
  ('L/min',        'volume_flow',      1e-3 / 60,              0, 'litre per minute', true),
  ('[gal_us]/min', 'volume_flow',      0.003785411784 / 60,    0, 'US gallon per minute', true),
  ('[bbl_us]/d',   'volume_flow',      0.158987294928 / 86400, 0, 'oil barrel per day', true),
  ('kg',           'mass',             1,                      0, 'kilogram', true),
  ('g',            'mass',             1e-3,                   0, 'gram', true),
  ('t',            'mass',             1e3,                    0, 'tonne', true),
  ('[lb_av]',      'mass',             0.45359237,             0, 'pound (avoirdupois)', true),
  ('m',            'length',           1,                      0, 'metre', true),
  ('mm',           'length',           1e-3,                   0, 'millimetre', true),
  ('cm',           'length',           1e-2,                   0, 'centimetre', true),
  ('km',           'length',           1e3,                    0, 'kilometre', true),
  ('[in_i]',       'length',           0.0254,                 0, 'inch', true),
  ('[ft_i]',       'length',           0.3048,                 0, 'foot', true),
  ('m/s',          'speed',            1,                      0, 'metre per second', true),
  ('mm/s',         'speed',            1e-3,                   0, 'millimetre per second (vibration velocity)', true),
  ('km/h',         'speed',            1::float8 / 3.6,        0, 'kilometre per hour', true),
  ('[mi_i]/h',     'speed',            0.44704,                0, 'mile per hour', true),
  ('[kn_i]',       'speed',            1852::float8 / 3600,    0, 'knot', true),
  ('m/s2',         'acceleration',     1,                      0, 'metre per second squared', true),
  ('[g]',          'acceleration',     9.80665,                0, 'standard gravity (vibration)', true),
  ('W/m2',         'irradiance',       1,                      0, 'watt per square metre', true),
  ('kW/m2',        'irradiance',       1e3,                    0, 'kilowatt per square metre', true),
  ('1',            'ratio',            1,                      0, 'plain fraction', true),
  ('%',            'ratio',            1e-2,                   0, 'percent', true),
  ('[ppm]',        'ratio',            1e-6,                   0, 'parts per million', true),
  ('[ppb]',        'ratio',            1e-9,                   0, 'parts per billion', true),
  ('rpm',          'rotational_speed', 1,                      0, 'revolutions per minute', true),
  ('rps',          'rotational_speed', 60,                     0, 'revolutions per second', true),
  ('s',            'time',             1,                      0, 'second', true),
  ('ms',           'time',             1e-3,                   0, 'millisecond', true),
  ('min',          'time',             60,                     0, 'minute', true),
  ('h',            'time',             3600,                   0, 'hour', true),
  ('d',            'time',             86400,                  0, 'day', true),
  ('rad',          'angle',            1,                      0, 'radian', true),
  ('deg',          'angle',            pg_catalog.pi() / 180,  0, 'degree of arc', true),
  ('{count}',      'count',            1,                      0, 'a count of things (steps, pulses)', true);
INSERT INTO telemetry.unit_aliases (alias, unit, builtin)
SELECT alias, unit, true FROM (VALUES
  ('celsius', 'Cel'), ('degC', 'Cel'), ('°C', 'Cel'), ('C', 'Cel'), ('deg C', 'Cel'), ('centigrade', 'Cel'),
  ('degrees_celsius', 'Cel'), ('kelvin', 'K'),
  ('fahrenheit', '[degF]'), ('degF', '[degF]'), ('°F', '[degF]'), ('F', '[degF]'), ('deg F', '[degF]'),
  ('watt', 'W'), ('watts', 'W'), ('kilowatt', 'kW'), ('kilowatts', 'kW'), ('megawatt', 'MW'),
  ('megawatts', 'MW'), ('milliwatt', 'mW'), ('hp', '[HP]'),
  ('VAr', 'var'), ('kVAr', 'kvar'), ('MVAr', 'Mvar'),
  ('joule', 'J'), ('W.h', 'Wh'), ('kW.h', 'kWh'), ('MW.h', 'MWh'), ('kilowatt_hour', 'kWh'), ('BTU', '[Btu_IT]'),
  ('volt', 'V'), ('volts', 'V'), ('amp', 'A'), ('amps', 'A'), ('ampere', 'A'),
  ('Ah', 'A.h'), ('mAh', 'mA.h'), ('As', 'A.s'), ('coulomb', 'A.s'), ('ohm', 'Ohm'), ('Ω', 'Ohm'), ('kΩ', 'kOhm'),
  ('hertz', 'Hz'),
  ('pascal', 'Pa'), ('psi', '[psi]'), ('psig', '[psi]'), ('psia', '[psi]'), ('mmHg', 'mm[Hg]'),
  ('cubic_meter', 'm3'), ('l', 'L'), ('liter', 'L'), ('litre', 'L'), ('liters', 'L'), ('litres', 'L'),
  ('ml', 'mL'), ('milliliter', 'mL'), ('milliliters', 'mL'), ('millilitre', 'mL'),
  ('gal', '[gal_us]'), ('gallon', '[gal_us]'), ('gallons', '[gal_us]'), ('bbl', '[bbl_us]'),
  ('l/min', 'L/min'), ('lpm', 'L/min'), ('l/s', 'L/s'), ('gpm', '[gal_us]/min'), ('gal/min', '[gal_us]/min'),
  ('bpd', '[bbl_us]/d'), ('bbl/d', '[bbl_us]/d'),
  ('kilogram', 'kg'), ('kilograms', 'kg'), ('gram', 'g'), ('tonne', 't'),
  ('lb', '[lb_av]'), ('lbs', '[lb_av]'), ('pound', '[lb_av]'), ('pounds', '[lb_av]'),
  ('meter', 'm'), ('metre', 'm'), ('in', '[in_i]'), ('inch', '[in_i]'), ('ft', '[ft_i]'), ('foot', '[ft_i]'),
  ('mps', 'm/s'), ('kph', 'km/h'), ('kmh', 'km/h'), ('mph', '[mi_i]/h'), ('kn', '[kn_i]'), ('knot', '[kn_i]'),
  ('knots', '[kn_i]'), ('m/s^2', 'm/s2'), ('gn', '[g]'),
  ('W/m^2', 'W/m2'), ('W/m²', 'W/m2'), ('kW/m^2', 'kW/m2'),
  ('percent', '%'), ('pct', '%'), ('%RH', '%'), ('ppm', '[ppm]'), ('ppb', '[ppb]'), ('fraction', '1'),
  ('r/min', 'rpm'), ('rev/min', 'rpm'),
  ('sec', 's'), ('second', 's'), ('seconds', 's'), ('minute', 'min'), ('minutes', 'min'), ('mins', 'min'),
  ('hour', 'h'), ('hours', 'h'), ('hr', 'h'), ('day', 'd'), ('days', 'd'),
  ('degree', 'deg'), ('degrees', 'deg'), ('°', 'deg'), ('radian', 'rad'),
  ('count', '{count}'), ('steps', '{count}'), ('pulses', '{count}')
) AS a (alias, unit);
END $seed$;

-- Registry edits must reach the per-backend caches of the Rust functions.
COMMENT ON FUNCTION telemetry.registry_changed() IS
  'Trigger function: invalidates the per-session registry caches when a registry table changes.';
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON telemetry.units
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.registry_changed();
COMMENT ON TRIGGER registry_changed ON telemetry.units IS 'Invalidates the cached registries of every session when this table changes.';
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON telemetry.unit_aliases
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.registry_changed();
COMMENT ON TRIGGER registry_changed ON telemetry.unit_aliases IS 'Invalidates the cached registries of every session when this table changes.';

-- pg_dump keeps every row of the registries, shipped rows as the DBA edited them too; under
-- pg_restore the seed is skipped, so the dump's rows are the only ones.
SELECT pg_catalog.pg_extension_config_dump('telemetry.units', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.unit_aliases', '');

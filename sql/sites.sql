-- telemetry: sites and their assets, the DBA's enrichment of readings.

CREATE TABLE telemetry.sites (
    site_id     text PRIMARY KEY CHECK (pg_catalog.length(site_id) BETWEEN 1 AND 128),
    name        text,
    timezone    text,
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    attributes  jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE telemetry.sites IS 'Sites (solar farm, wind farm, BESS, well pad, farm) used to enrich readings.';
COMMENT ON COLUMN telemetry.sites.timezone IS 'IANA time zone of the site, for local-time reports.';
COMMENT ON COLUMN telemetry.sites.attributes IS 'Free-form site metadata.';

CREATE TABLE telemetry.assets (
    site_id     text NOT NULL REFERENCES telemetry.sites (site_id) ON UPDATE CASCADE,
    asset_id    text NOT NULL CHECK (pg_catalog.length(asset_id) BETWEEN 1 AND 128),
    asset_type  text,
    name        text,
    attributes  jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (site_id, asset_id)
);
COMMENT ON TABLE telemetry.assets IS 'Assets (inverter, turbine, battery rack, pump, barn sensor) within a site.';
COMMENT ON COLUMN telemetry.assets.asset_type IS 'Kind of asset, e.g. inverter, turbine, battery_rack, esp_pump.';
COMMENT ON COLUMN telemetry.assets.attributes IS 'Free-form asset metadata (model, capacity, commissioning date).';

-- pg_dump keeps every row.
SELECT pg_catalog.pg_extension_config_dump('telemetry.sites', '');
SELECT pg_catalog.pg_extension_config_dump('telemetry.assets', '');

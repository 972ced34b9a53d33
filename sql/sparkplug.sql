-- telemetry: Sparkplug B, what each edge node and device declared in its last birth.

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

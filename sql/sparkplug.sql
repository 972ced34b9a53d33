-- telemetry: Sparkplug B, the metric aliases each edge node and device declared in its last birth.

CREATE TABLE telemetry.sparkplug_aliases (
    group_id     text NOT NULL,
    edge_node_id text NOT NULL,
    device_id    text NOT NULL,
    alias        numeric(20) NOT NULL CHECK (alias BETWEEN 0 AND 18446744073709551615),
    metric       text NOT NULL,
    PRIMARY KEY (group_id, edge_node_id, device_id, alias)
);
COMMENT ON TABLE telemetry.sparkplug_aliases IS
  'Metric aliases declared by the last Sparkplug B birth (NBIRTH, DBIRTH) of each edge node and device; DATA messages name metrics by these aliases.';
COMMENT ON COLUMN telemetry.sparkplug_aliases.group_id IS 'Sparkplug group; the site of its readings.';
COMMENT ON COLUMN telemetry.sparkplug_aliases.edge_node_id IS 'Sparkplug edge node; the asset of its readings.';
COMMENT ON COLUMN telemetry.sparkplug_aliases.device_id IS 'Empty for the metrics of the edge node itself.';
COMMENT ON COLUMN telemetry.sparkplug_aliases.alias IS 'The numeric alias as DATA messages send it: any unsigned 64-bit integer.';
COMMENT ON COLUMN telemetry.sparkplug_aliases.metric IS 'The metric name the birth declared for it.';

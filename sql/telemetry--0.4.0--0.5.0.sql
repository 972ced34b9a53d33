-- telemetry 0.4.0 to 0.5.0: alarms are delivered with QoS 2 (telemetry.alarm_outbox records the
-- broker's receipt). The functions' code comes with the new library.

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

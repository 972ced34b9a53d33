-- telemetry.reorder_chunks(): closed chunks rewritten in (series_id, time) order, once.
SET timezone = 'UTC';
SET client_min_messages = warning;
INSERT INTO telemetry.series (site_id, asset_id, metric)
SELECT 'maint-site', 'asset-' || a, 'humidity' FROM generate_series(1, 20) a;
-- Arriving as readings do: all series for one minute, then the next minute.
INSERT INTO telemetry.readings (time, series_id, value)
SELECT timestamptz '2024-03-01' + k * interval '1 minute', s.series_id, k % 100
  FROM generate_series(0, 2 * 1440 - 1) k, telemetry.series s WHERE s.site_id = 'maint-site'
 ORDER BY k, s.series_id;
SELECT c AS chunk FROM show_chunks('telemetry.readings', older_than => timestamptz '2024-03-02', newer_than => timestamptz '2024-03-01') c LIMIT 1 \gset
SELECT count(*) FILTER (WHERE (series_id, time) < (prev_series, prev_time)) > 0 AS scattered_before
  FROM (SELECT series_id, time, lag(series_id) OVER w AS prev_series, lag(time) OVER w AS prev_time
          FROM :chunk WINDOW w AS (ORDER BY ctid)) x;
SELECT count(*) AS chunks, sum(bytes_after) < sum(bytes_before) AS smaller
  FROM telemetry.reorder_chunks(older_than => interval '1 day');
-- Done once: a second call finds nothing left to do.
SELECT count(*) FROM telemetry.reorder_chunks();
-- Rows now lie in (series_id, time) order, so a series' readings are together on disk.
SELECT count(*) AS rows, count(*) FILTER (WHERE (series_id, time) < (prev_series, prev_time)) AS out_of_order
  FROM (SELECT series_id, time, lag(series_id) OVER w AS prev_series, lag(time) OVER w AS prev_time
          FROM :chunk WINDOW w AS (ORDER BY ctid)) x;
SELECT count(*) AS readings FROM telemetry.readings r JOIN telemetry.series s USING (series_id)
 WHERE s.site_id = 'maint-site' AND s.asset_id = 'asset-7';
SELECT telemetry.reorder_chunks(interval '-1 day');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT telemetry.reorder_chunks(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

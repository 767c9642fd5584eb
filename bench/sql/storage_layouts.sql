-- Bytes per reading of candidate layouts of the readings table, 5 million readings each (not a product table).
--   createdb layout_probe && psql -d layout_probe -f bench/sql/storage_layouts.sql ; dropdb layout_probe
-- cur: the readings table's columns; a: a series id instead of the repeated strings, a row per reading and a
-- B-tree (series, time); b: the same rows ordered by series with only a BRIN index (a closed partition);
-- c: one row per series and hour, times and values in arrays.
\timing on
DROP TABLE IF EXISTS cur, a, b, c;
-- current layout (approximation of mqtt_telemetryreading)
CREATE TABLE cur (id bigserial PRIMARY KEY, connection_id bigint, topic_id bigint, device varchar(255), metric varchar(255), value_type varchar(8), value double precision, text_value text, unit varchar(32), "timestamp" timestamptz, received_at timestamptz);
INSERT INTO cur (connection_id, topic_id, device, metric, value_type, value, text_value, unit, "timestamp", received_at)
SELECT 1, 1 + i % 2000, 'dev' || (i % 50), (ARRAY['temperature','humidity','pressure'])[1 + i % 3], 'number', 20 + (i % 7), '', 'C', now() - make_interval(secs => i * 0.01), now() - make_interval(secs => i * 0.01) FROM generate_series(1, 5000000) i;
CREATE INDEX ON cur (topic_id, "timestamp" DESC);
-- (a) series id + row per reading, no surrogate key, B-tree (series, timestamp)
CREATE TABLE a ("timestamp" timestamptz NOT NULL, received_at timestamptz NOT NULL, value double precision, series_id integer NOT NULL, text_value text);
INSERT INTO a SELECT "timestamp", received_at, value, (topic_id * 3 + (i % 3))::int, NULL FROM (SELECT *, row_number() over () i FROM cur) s;
CREATE INDEX ON a (series_id, "timestamp");
-- (b) the same rows, clustered by series with a BRIN index only (a closed partition)
CREATE TABLE b AS SELECT * FROM a ORDER BY series_id, "timestamp";
CREATE INDEX ON b USING brin (series_id, "timestamp") WITH (pages_per_range = 8);
-- (c) one row per series and hour: arrays of times (as int4 ms offsets) and values
CREATE TABLE c AS SELECT series_id, date_trunc('hour', "timestamp") AS hour, array_agg((extract(epoch from "timestamp" - date_trunc('hour', "timestamp")) * 1000)::int ORDER BY "timestamp") AS offsets, array_agg(value ORDER BY "timestamp") AS vals, count(*) n FROM a GROUP BY 1, 2;
CREATE INDEX ON c (series_id, hour);
ANALYZE;
SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) total, round(pg_total_relation_size(oid)::numeric / 5000000, 1) bytes_per_reading, round(pg_relation_size(oid)::numeric / 5000000, 1) heap_per_reading FROM pg_class WHERE relname IN ('cur','a','b','c') ORDER BY 1;
SELECT avg(n) readings_per_row FROM c;

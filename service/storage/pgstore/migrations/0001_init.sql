-- The first schema of pgstore. {{schema}} is replaced by the engine's schema, quoted.

-- One row per store. key is an internal number that the events refer to; id is the store id as
-- the clients name it; id_hash is its SHA-256, computed by the engine, so that ids of any length
-- are unique and found by a small index. Numbers are numeric(20,0) because they are unsigned
-- 64-bit integers. Every append updates its store's row, so pages keep room for the new versions
-- (fillfactor), which lets PostgreSQL update in place, without touching the indexes (HOT).
CREATE TABLE {{schema}}.stores (
    key         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text COLLATE "C" NOT NULL,
    id_hash     bytea NOT NULL UNIQUE,
    backend_id  text NOT NULL,
    head        numeric(20,0) NOT NULL,
    event_count numeric(20,0) NOT NULL,
    event_bytes numeric(20,0) NOT NULL,
    created_at  timestamptz NOT NULL
) WITH (fillfactor = 70);

-- ListStores walks the stores in byte order of their ids; a btree cannot hold ids of any length,
-- so it holds their first 200 characters, and the rest of the order is sorted on the way.
CREATE INDEX stores_id_order ON {{schema}}.stores (left(id, 200));
-- For people who look a store up by its id in SQL (WHERE id = '…').
CREATE INDEX stores_id_lookup ON {{schema}}.stores USING hash (id);

-- One row per event, in the order of (store_key, seq_num). args is the JSON text exactly as
-- pushed, NULL when the event had none; created_at_ms is when the server stored it, in
-- milliseconds since the Unix epoch. The engine deletes a store's events with the store (there is
-- no foreign key: it would cost a lookup per inserted event).
CREATE TABLE {{schema}}.events (
    store_key      bigint NOT NULL,
    seq_num        numeric(20,0) NOT NULL,
    parent_seq_num numeric(20,0) NOT NULL,
    name           text NOT NULL,
    args           text,
    client_id      text NOT NULL,
    session_id     text NOT NULL,
    created_at_ms  bigint NOT NULL,
    PRIMARY KEY (store_key, seq_num)
);

-- The events with their store's id, for queries by hand.
CREATE VIEW {{schema}}.store_events AS
    SELECT s.id AS store_id, e.seq_num, e.parent_seq_num, e.name, e.args, e.client_id, e.session_id,
           to_timestamp(e.created_at_ms / 1000.0) AS created_at
    FROM {{schema}}.events e JOIN {{schema}}.stores s ON s.key = e.store_key;

"""The history database's schema, versioned with SQLite's `user_version`: each migration takes
a database from the version before it to the next, and a database from a newer genchat is
refused (`genchat.history.database`)."""

from __future__ import annotations

SCHEMA_VERSION = 3

# Each entry migrates from the version before it to the next; index 0 makes version 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        id          INTEGER PRIMARY KEY,
        title       TEXT NOT NULL DEFAULT '',
        kind        TEXT NOT NULL DEFAULT 'chat',
        created     REAL NOT NULL,
        updated     REAL NOT NULL,
        active_leaf INTEGER,
        profile     TEXT,
        model       TEXT
    );
    CREATE TABLE messages (
        id              INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id       INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content         TEXT NOT NULL DEFAULT '',
        reasoning       TEXT NOT NULL DEFAULT '',
        status          TEXT NOT NULL DEFAULT 'complete' CHECK (status IN
                            ('complete', 'streaming', 'stopped', 'error', 'interrupted')),
        error           TEXT,
        profile         TEXT,
        backend         TEXT,
        model           TEXT,
        adapter         TEXT,
        params          TEXT NOT NULL DEFAULT '{}',
        metrics         TEXT NOT NULL DEFAULT '{}',
        pane            INTEGER,
        chosen          INTEGER NOT NULL DEFAULT 0,
        writer_pid      INTEGER,
        created         REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX messages_by_parent ON messages(parent_id);
    CREATE INDEX conversations_by_update ON conversations(updated DESC);
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='id', tokenize='unicode61'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    """,
    """
    ALTER TABLE conversations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE conversations ADD COLUMN title_by TEXT NOT NULL DEFAULT 'message';
    """,
    """
    CREATE TABLE votes (
        id              INTEGER PRIMARY KEY,
        created         REAL NOT NULL,
        conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
        tag             TEXT NOT NULL DEFAULT '',
        prompt          TEXT NOT NULL,
        outcome         TEXT NOT NULL CHECK (outcome IN ('a', 'b', 'tie', 'bad')),
        flagged         TEXT,
        model_a         TEXT NOT NULL,
        model_b         TEXT NOT NULL,
        reply_a         TEXT NOT NULL,
        reply_b         TEXT NOT NULL,
        ttft_a          REAL,
        ttft_b          REAL,
        tps_a           REAL,
        tps_b           REAL,
        details         TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX votes_by_time ON votes(created);
    """,
)
assert len(MIGRATIONS) == SCHEMA_VERSION

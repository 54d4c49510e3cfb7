-- The mark "read but not yet evaluated" moves out of entra_users into a narrow table of its own.
-- Marking and clearing a person then writes one short row instead of a new version of the
-- person's mirrored attributes (and of every index on entra_users): at 100 000 people that was
-- most of a full sync's database time. A run pages through this table in Entra-id order.
-- Every mark is written by a statement that reads the person from entra_users, so a mark always
-- names a mirrored person.
CREATE TABLE entra_pending (
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    entra_id       TEXT NOT NULL,
    -- the notification awaiting evaluation
    notification   TEXT NOT NULL CHECK (notification IN ('created', 'updated', 'removed-changed', 'removed-deleted', 'full-pass')),
    PRIMARY KEY (connection_id, entra_id)
);

INSERT INTO entra_pending (connection_id, entra_id, notification)
    SELECT connection_id, entra_id, pending FROM entra_users WHERE pending IS NOT NULL;

DROP INDEX entra_users_pending_idx;
ALTER TABLE entra_users DROP COLUMN pending;

-- A person's CAB memberships are read by holder; the unique keys start with the CAB.
CREATE INDEX cab_members_user_idx ON cab_members (user_id);
CREATE INDEX cab_members_agent_idx ON cab_members (agent_id);

-- The member index carries the group id, so a person's memberships are read from the index.
DROP INDEX entra_memberships_member_idx;
CREATE INDEX entra_memberships_member_idx ON entra_memberships (connection_id, member_id) INCLUDE (group_id);

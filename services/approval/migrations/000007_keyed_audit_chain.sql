-- The keyed audit chain. New events are chained with an HMAC under the audit-chain key (see
-- src/audit.ts, src/audit-key.ts) and record the id of that key, so the key can rotate and a
-- verifier knows which one to use. Rows written before this migration keep their plain sha256
-- link and a null key_id, and still verify by that rule.
alter table approval.audit_events add column key_id text;

-- No new row without a key id: a plain sha256 link is one anybody could forge. NOT VALID leaves
-- the old rows alone and holds every row inserted from now on; the service's role does not own
-- the table, so it cannot drop the constraint.
alter table approval.audit_events add constraint audit_events_keyed check (key_id is not null) not valid;

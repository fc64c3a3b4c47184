-- expand: adds nullable columns only; older versions keep running (their terminal approvals carry no receipt).
-- Decision receipts (docs/security.md "Receipts"): the compact JWS the service signs in the
-- transaction that makes an approval terminal, stored beside the status it attests, so the
-- decided event, approval.get and the HTTP API all carry the same one. Null while pending, and
-- on approvals decided before receipts existed.
alter table approval.approvals add column receipt text;

-- The relay channel that carried a vote (the notifier's markdown folders), recorded with the
-- vote so that the receipt can name it; null for a vote cast directly.
alter table approval.votes add column channel text;

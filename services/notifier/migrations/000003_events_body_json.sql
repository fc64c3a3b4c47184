-- An event's body is stored for the deliveries that send it and read back whole, never queried
-- inside: json keeps the text as received, where jsonb parsed it into its binary form on every
-- insert and printed it back on every read.
alter table notifier.events alter column body type json using body::json;

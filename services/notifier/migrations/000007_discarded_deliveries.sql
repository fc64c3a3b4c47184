-- expand: widens a check; older versions never discard.
-- An operator may discard a dead delivery (notifier.deadletters.discard): it is kept, marked
-- discarded, and never sent or listed as dead again.
alter table notifier.deliveries drop constraint deliveries_status_check;
alter table notifier.deliveries add constraint deliveries_status_check
  check (status in ('scheduled', 'in_progress', 'delivered', 'dead', 'superseded', 'discarded'));

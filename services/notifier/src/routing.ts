import type { ApprovalEvent } from '@countersign/contracts';
import type { ChannelSettings } from './channel-config.js';
import type { Channel, Target } from './channels/types.js';

/** Whether a channel receives an event: its route (all, or named by the policy's `notify`) and filter. */
export function channelMatches(settings: ChannelSettings, event: ApprovalEvent): boolean {
  const approval = event.data;
  if (settings.route === 'notify' && !approval.policy.notify.includes(settings.name)) return false;
  const { events, action_types, risks } = settings.filter;
  if (events && !events.includes(event.type)) return false;
  if (action_types && !action_types.includes(approval.action_type)) return false;
  if (risks && !risks.includes(approval.policy.risk)) return false;
  return true;
}

export interface PlannedDelivery {
  channel: Channel;
  target: Target;
}

/** Every (channel, target) an event is delivered to. */
export function planDeliveries(channels: readonly Channel[], event: ApprovalEvent): PlannedDelivery[] {
  return channels
    .filter((channel) => channelMatches(channel.settings, event))
    .flatMap((channel) => channel.targets(event).map((target) => ({ channel, target })));
}

/**
 * The Slack buttons Countersign posts and reads back: the notifier puts them on a pending
 * approval's message, the approval service's Slack door decides on the click. The button's
 * `value` is the approval's action id; who clicked is Slack's signed `user.id`, never the button.
 */
export const SlackActions = {
  approve: 'countersign_approve',
  reject: 'countersign_reject',
} as const;
export type SlackAction = (typeof SlackActions)[keyof typeof SlackActions];

"""Rollout notifications: the rollout's Events that people want told (started, step advanced,
paused, promoted, rolled back) posted to webhook receivers, as generic JSON or Slack text.

Built from the very Events the reconcile posts, with the same timestamp, so a notification
and its Event never disagree. Delivered by ``delivery.Notifier`` on a thread of its own: a
reconcile only hands the notifications over, it never waits for a receiver.
"""

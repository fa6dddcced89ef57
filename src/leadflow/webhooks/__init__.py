"""Outbound webhooks: subscriptions, a durable outbox of facts, signed at-least-once delivery."""

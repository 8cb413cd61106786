"""OpenADR 3.1 subscriptions and notifications: webhooks (persisted outbox) and MQTT.

rules (pure: what a change means to 3.x, who is notified, topics, backoff), models and store
(subscriptions, the webhook outbox), callbacks (URL checks, the echo challenge, one POST),
delivery (the outbox worker), feed (core changes -> notifications), mqtt (the broker
publisher), handlers (``/subscriptions``, ``/notifiers``), wiring (what ``app.py`` calls).
"""

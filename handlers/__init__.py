"""Edges: Kafka administration and producing, the local broker, database, files, Twilio, webhooks."""

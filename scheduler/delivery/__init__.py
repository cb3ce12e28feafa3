"""The delivery edge: the worker (APScheduler as a metronome), the sender that drains the outbox,
the shared rate limits, and the channels (one class per provider). Nothing in the use-case
modules of scheduler/ imports this package; the composition root (bot/compose.py) wires it."""

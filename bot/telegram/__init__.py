"""Telegram: the bot inside our own aiohttp server (python-telegram-bot 22, ``.updater(None)``).

* ``webhook``: ``POST /webhooks/telegram`` (secret checked, update stored before the 200);
* ``service``: the Application, update storage and processing, the error handler;
* ``turn``: one update's unit of work; replies go to the outbox, never straight to Telegram;
* one router per feature: ``linking`` (contact, codes, groups, migration), ``leaders``
  (/commit /turnout /chase /count), ``cards`` (/rsvp and its buttons), ``organisers``
  (/digest /actions /linkcode), ``residents`` (private text through the inbound pipeline);
* ``extension``: start/stop with the server. Sending is scheduler.delivery.channels.telegram.
"""

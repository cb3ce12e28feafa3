"""Telegram: the bot inside our own aiohttp server (python-telegram-bot 22, ``.updater(None)``).

* ``webhook``: ``POST /webhooks/telegram`` (secret checked, update stored before the 200);
* ``service``: update storage and processing, the error handler; it is handed its Application;
* ``application``: builds that Application from the routers (``telegram_service`` makes the bot);
* ``turn``: one update's unit of work; replies go to the outbox, never straight to Telegram;
* one router per feature: ``linking`` (contact, codes, groups, migration), ``leaders``
  (/commit /turnout /chase /count), ``cards`` (/rsvp and its buttons), ``organisers``
  (/digest /actions /linkcode), ``residents`` (private text through the inbound pipeline);
  each gets a ``router.Service`` and returns ``router.Handlers``, never importing ``service``;
* ``extension``: start/stop with the server. Sending is scheduler.delivery.channels.telegram.
"""

"""Telegram: the bot inside our own aiohttp server (python-telegram-bot 22, ``.updater(None)``).

* ``webhook``: ``POST /webhooks/telegram`` (secret checked, update stored before the 200);
* ``service``: update storage and processing, the error handler; it is handed its Application;
* ``application``: builds that Application from the routers (``telegram_service`` makes the bot);
* ``turn``: one update's unit of work; replies go to the outbox, never straight to Telegram;
* two routers: ``linking`` (contact, codes, groups, migration, membership: Telegram's own
  matters) and ``conversation`` (every command, private text and tap into the conversation
  engine, bot/handlers/, the same as SMS); ``render`` shows the engine's neutral replies the
  Telegram way (wording, keyboards, cards, photos, tap answers); each router gets a
  ``router.Service`` and returns ``router.Handlers``, never importing ``service``;
* ``menu``: the command menus; ``extension``: start/stop with the server. Sending is
  scheduler.delivery.channels.telegram.
"""

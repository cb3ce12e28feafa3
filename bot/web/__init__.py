"""The organiser console: a phone-first web app in the same server, at ``/``.

Server-rendered HTML (Jinja2 through aiohttp-jinja2, autoescaped), forms that work without
JavaScript, and server-sent events (aiohttp-sse) where numbers move live; no build step.

* ``console``: ``install(app)``, the one call ``bot.app.create_app`` makes: templates, static
  files, the middleware, every page's routes, the live hub;
* ``security``: cookies, the client's address, CSRF and Origin checks, security headers, and
  the middleware that loads the signed-in viewer for every console request;
* ``viewer``: who is looking and what they may see (``Viewer.scope``);
* ``pages``: rendering, error pages, ``signed_in``, the navigation;
* ``auth``: the sign-in and session use cases (no HTTP), also used by ``turnout organisers``;
* ``signin``, ``sessions``, ``today``: the pages; ``live``: the hub behind live numbers.
"""

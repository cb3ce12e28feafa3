"""The import wizard (``/people/import``): upload a spreadsheet (CSV), see every bad row by
line with the reason, or a preview of what will happen; confirm; import, all or nothing.

Validation and writing are storage/importer.py's (the same as ``turnout people import``):
a file with any bad row is refused whole and nothing is kept. A good file waits on the server
(storage/uploads.py, tied to this console session) while the organiser reads the preview: the
confirm form carries a token, never the file. Importing is for organisers (a leader sees a
page saying so). The import runs while the page waits: 10,000 rows take two to three seconds
(docs/benchmarks.md), so the result page gives the counts rather than a progress bar.

Uploads may be larger than the app's request limit (256 KiB, set for webhooks):
:func:`allow_upload` raises it for this one route to :data:`MAX_UPLOAD_BYTES`, and answers a
larger file with a page that says so.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.pages import Handler, error_page, organisers_only, render, signed_in
from bot.web.security import guard
from bot.web.viewer import Viewer
from storage.audit import record
from storage.importer import (
    ImportRejected,
    PeopleFile,
    decode,
    known_phones,
    read_people,
    write_people,
)
from storage.uploads import drop_upload, find_upload, keep_upload

routes = web.RouteTableDef()

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
UPLOAD_PATH = "/people/import"
SHOWN_ERRORS = 500  # bad rows listed on the page (the count says how many more)
SECONDS_PER_ROW = 0.0003  # writing, measured (bench/console_people.py), rounded up


def _too_big(request: web.Request) -> web.Response:
    return error_page(
        request,
        413,
        "The file is too big",
        f"Nothing was imported. Files up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB can be "
        "uploaded: split the spreadsheet into smaller files and import each.",
    )


@web.middleware
async def allow_upload(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The upload route takes files up to MAX_UPLOAD_BYTES (every other route keeps the app's
    limit). Runs before the console's guard, which reads the form."""
    if request.path != UPLOAD_PATH or request.method != "POST":
        return await handler(request)
    if (request.content_length or 0) > MAX_UPLOAD_BYTES:
        return _too_big(request)
    try:
        return await handler(request.clone(client_max_size=MAX_UPLOAD_BYTES))
    except web.HTTPRequestEntityTooLarge:
        return _too_big(request)


_organisers = organisers_only(
    "Only organisers import people",
    "Importing adds people to every institution in the file. Ask your organiser to "
    "import your spreadsheet.",
)


@routes.get(UPLOAD_PATH, name="console.people_import")
@signed_in
@_organisers
async def upload_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return render(request, "import.html", {"title": "Import people", "problem": None})


def _upload(form: MultiDictProxy[Any]) -> tuple[str, bytes] | None:
    field = form.get("file")
    if not isinstance(field, web.FileField):
        return None
    return field.filename or "", field.file.read()


def _rejected(
    request: web.Request, filename: str, rejected: ImportRejected, status: int = 400
) -> web.Response:
    return render(
        request,
        "import.html",
        {
            "title": "Import people",
            "problem": {
                "filename": filename,
                "errors": rejected.errors[:SHOWN_ERRORS],
                "more": max(0, len(rejected.errors) - SHOWN_ERRORS),
                "count": len(rejected.errors),
                "warnings": rejected.warnings,
            },
        },
        status=status,
    )


@routes.post(UPLOAD_PATH, name="console.import_upload")
@signed_in
@_organisers
async def upload(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    got = _upload(await request.post())
    if got is None or not got[1]:
        return render(
            request,
            "import.html",
            {"title": "Import people", "problem": None, "missing": True},
            status=400,
        )
    filename, data = got
    settings = request.app[SETTINGS]
    try:
        content = decode(data)
        people = await asyncio.to_thread(read_people, io.StringIO(content), settings=settings)
    except ImportRejected as rejected:
        return _rejected(request, filename, rejected)
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        known = await known_phones(session, people)
        token, _row = await keep_upload(
            session,
            session_id=viewer.session_id,
            filename=filename,
            content=content,
            rows=people.rows_read,
            now=now,
        )
    return render(request, "import_preview.html", _preview(filename, people, known, token))


def _preview(filename: str, people: PeopleFile, known: int, token: str) -> dict[str, object]:
    return {
        "title": "Check the import",
        "filename": filename,
        "rows": people.rows_read,
        "people": len(people.people),
        "new": len(people.people) - known,
        "known": known,
        "merged": people.duplicates_merged,
        "institutions": sorted(i.name for i in people.institutions.values()),
        "warnings": people.warnings,
        "token": token,
        "seconds": round(people.rows_read * SECONDS_PER_ROW),
    }


@routes.post(UPLOAD_PATH + "/confirm", name="console.import_confirm")
@signed_in
@_organisers
async def confirm(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    token = form.get("upload", "")
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        row = (
            await find_upload(session, token, session_id=viewer.session_id, now=now)
            if isinstance(token, str) and len(token) < 100
            else None
        )
        claimed = row is not None and await drop_upload(session, row.id)
    if row is None or not claimed:
        return error_page(
            request,
            400,
            "This import has expired",
            "Nothing was imported by this form: the file was already imported, or it waited "
            "more than an hour. Upload the spreadsheet again.",
        )
    settings = request.app[SETTINGS]
    try:
        people = await asyncio.to_thread(read_people, io.StringIO(row.content), settings=settings)
    except ImportRejected as rejected:  # it was fine at upload: only if the settings changed
        return _rejected(request, row.filename, rejected)
    report = await write_people(request.app[DB], people, now=now)
    async with request.app[DB].session() as session:
        await record(
            session,
            viewer.actor,
            "people_imported",
            "person",
            None,
            at=now,
            details={
                "rows": report.rows_read,
                "created": report.people_created,
                "updated": report.people_updated,
                "institutions_created": report.institutions_created,
                "memberships_added": report.memberships_added,
            },
        )
    return render(
        request,
        "import_done.html",
        {"title": "Imported", "report": report, "filename": row.filename},
    )


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    app.middlewares.insert(app.middlewares.index(guard), allow_upload)

"""The Atom feed (``/feed.atom``): the items of /items.json for a feed reader."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from aiohttp import web
from yarl import URL

from ticker import __version__
from ticker.alerting.messages import kind_label
from ticker.model import RecordedItem
from ticker.normalize import xml_safe
from ticker.views import iso
from ticker.web.reads import VIEW_KEY, read_items, wants_baseline
from ticker.web.status import source_names


def item_uuid(item: RecordedItem) -> str:
    """A stable Atom id: the same item keeps its id across restarts."""
    seed = f"ticker:{item.source_id}:{item.id}:{iso(item.first_seen)}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}"


def _xml(text: str, *, attr: bool = False) -> str:
    """Escaped, and without what XML 1.0 forbids: a row stored before text was cleaned on the
    way in (U+FFFE, a lone surrogate) must not make the whole feed unparseable."""
    return escape(xml_safe(text), {'"': "&quot;"} if attr else {})


def atom_feed(
    items: Sequence[RecordedItem], *, names: dict[str, str], feed_id: str, self_url: str
) -> str:
    """An Atom 1.0 feed of items, newest first (RFC 4287: id, title, updated on feed and entry)."""
    updated = iso(items[0].first_seen) if items else iso(datetime(2000, 1, 1, tzinfo=UTC))
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        "<title>ticker: breaking news</title>",
        f"<id>{escape(feed_id)}</id>",
        f"<updated>{updated}</updated>",
        f'<link rel="self" href="{escape(self_url, {chr(34): "&quot;"})}"/>',
        "<author><name>ticker</name></author>",
        f'<generator version="{__version__}">ticker</generator>',
    ]
    for item in items:
        name = names.get(item.source_id, item.source_id)
        prefix = kind_label(item.kind)
        entry = [
            "<entry>",
            f"<id>{item_uuid(item)}</id>",
            f"<title>{_xml(prefix + item.text)}</title>",
            f"<updated>{iso(item.first_seen)}</updated>",
            f"<published>{iso(item.first_seen)}</published>",
            f"<author><name>{_xml(name)}</name></author>",
            f'<category term="{escape(item.source_id)}"/>',
            f'<content type="text">{_xml(item.text)}</content>',
        ]
        if item.story is not None:
            # The story it belongs to: entries of one event from several outlets share it.
            entry.append(f'<category scheme="urn:ticker:story" term="{item.story}"/>')
        if item.link:
            entry.append(f'<link rel="alternate" href="{_xml(item.link, attr=True)}"/>')
        entry.append("</entry>")
        parts.extend(entry)
    parts.append("</feed>")
    return "\n".join(parts)


async def feed_atom(request: web.Request) -> web.Response:
    view = request.app[VIEW_KEY]
    names = source_names(view)
    # A baseline is what the ticker showed at install time, not news: a feed reader would
    # present it as such, so it is left out (as on the live page) unless asked for.
    items = await read_items(request, include_baseline=wants_baseline(request))
    feed_id = (
        f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'ticker-feed:{view.config.service.state}')}"
    )
    body = atom_feed(items, names=names, feed_id=feed_id, self_url=str(_without_token(request)))
    return web.Response(text=body, content_type="application/atom+xml", charset="utf-8")


def _without_token(request: web.Request) -> URL:
    """The feed's own URL as readers keep and share it: a ``?token=`` stays out of the body."""
    return request.url.with_query([(k, v) for k, v in request.query.items() if k != "token"])

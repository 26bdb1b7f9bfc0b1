"""`makemessages` that also extracts `_lazy(...)`: several views import gettext_lazy under
that name, and the stock command would miss (or, with --no-obsolete, drop) their strings."""

from __future__ import annotations

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=_lazy"]

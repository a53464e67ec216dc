"""The HTTP endpoint of ``ticker run``: it reads the service only through a ``StatusView``.

``app`` builds the application (health, metrics, items) and starts it; ``access`` says who may
ask; ``server`` bounds connections; ``live`` serves the live page and its event stream; ``feed``
the Atom feed; ``timeline`` the 24 h chart; ``reads`` is what a handler reads; ``status`` names
what the endpoint reads of the service and how a source's status looks.
"""

from ticker.web.app import build_app, start_web
from ticker.web.server import HttpEndpoint
from ticker.web.status import StatusView

__all__ = ["HttpEndpoint", "StatusView", "build_app", "start_web"]

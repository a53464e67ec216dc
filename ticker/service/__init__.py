"""``ticker run``: the long-running service, handed its parts by ``ticker.cli.wiring``.

``lifecycle`` holds the Service (start, signals, graceful stop, each poll, reload);
``scheduling`` when each source is polled (jitter, backoff, host pacing); ``health_alerts`` what
the service tells of its sources' and its state's health; ``reload`` the configuration read
again; ``endpoint`` the HTTP endpoint across reloads; ``watchdog`` systemd's ping and the loop's
lag; ``parts`` what the service is handed.
"""

from ticker.service.lifecycle import Service
from ticker.service.parts import DeliveryFactory, DeliverySide, ServiceParts

__all__ = ["DeliveryFactory", "DeliverySide", "Service", "ServiceParts"]

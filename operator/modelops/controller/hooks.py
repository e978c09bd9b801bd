"""kopf's part: start-up and clean-up hooks, in a registry of their own.

kopf runs the process (signals, its event loop, start-up and clean-up) but no resource
handler: the controller (modelops.controller.manager) watches and reconciles. The hooks are
registered in a fresh ``kopf.OperatorRegistry`` when ``registry`` is called, not in kopf's
global one at import, so importing this module registers and starts nothing.
"""

from typing import Any

import kopf

from modelops.controller.config import OperatorConfig
from modelops.controller.manager import Controller


def configure(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    # Our Events are posted by the controller (modelops.kube.events); kopf posts none.
    settings.posting.enabled = False
    settings.networking.request_timeout = 30
    # With --namespace the operator runs on a Role (manifests/overlays/namespaced): it may not
    # list namespaces or watch CRDs, and kopf, told so, takes the namespaces as exact names and
    # the CRDs from one discovery at start instead of retrying those reads for a minute.
    if config.namespaced:
        settings.scanning.disabled = True


def registry(controller: Controller) -> kopf.OperatorRegistry:
    """kopf's hooks for ``controller``: start it at start-up, stop it at clean-up."""
    hooks = kopf.OperatorRegistry()

    @kopf.on.login(registry=hooks)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # kopf's global registry adds this by itself; a registry of our own says it.
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=hooks)
    def start(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings, controller.config)
        controller.start()

    @kopf.on.cleanup(registry=hooks)
    def stop(**_: Any) -> None:
        controller.stop()

    return hooks

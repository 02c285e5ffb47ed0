"""A small local web page over a study folder: studies, trial table, live charts, PBT lineage.

    torchsearch dashboard runs/digits            # then open http://127.0.0.1:8080/

or from Python::

    from torchsearch.dashboard import make_server
    server = make_server("runs/digits", port=0)  # port 0: a free port, in server.port
    server.serve_forever()

The page (``static/``: one HTML, one JS, one CSS file, no third-party code) polls the JSON API
under ``/api/`` every few seconds; the API and the server's safety rules are described in
``api.py`` and ``server.py``. ``export.py`` writes a study for TensorBoard's HParams view.
"""

from __future__ import annotations

from .server import DashboardServer, make_server, serve

__all__ = ["DashboardServer", "make_server", "serve"]

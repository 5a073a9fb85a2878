"""The Ray side: connect or start the cluster, share read-only features, evaluate trials on an actor pool."""

import os

# Ray reads its auth mode when it is imported: turn token authentication on before any module here does.
os.environ.setdefault("RAY_AUTH_MODE", "token")

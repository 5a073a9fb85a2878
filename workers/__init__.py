"""The Ray side: connect or start the cluster, share read-only features, evaluate trials on an actor pool."""

import os
import sys

INSECURE_VARIABLE = "ADMF_INSECURE_RAY"  # "1": keep the environment's RAY_AUTH_MODE, even "disabled"


def _token_authentication() -> None:
    """Ray reads its auth mode when it is imported: turn token authentication on before any module here
    does. A RAY_AUTH_MODE that says otherwise is overridden, with a note, unless ADMF_INSECURE_RAY=1 asks
    for it explicitly (then a warning)."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if os.environ.get(INSECURE_VARIABLE) == "1":
        if mode != "token":
            print(f"warning: {INSECURE_VARIABLE}=1: Ray runs without token authentication; anyone who can reach "
                  "its ports can run code as this user", file=sys.stderr)
        return
    if mode is not None and mode != "token":
        print(f"note: RAY_AUTH_MODE={mode[:40]} ignored: admf keeps Ray's token authentication on "
              f"(set {INSECURE_VARIABLE}=1 to turn it off)", file=sys.stderr)
    os.environ["RAY_AUTH_MODE"] = "token"


_token_authentication()

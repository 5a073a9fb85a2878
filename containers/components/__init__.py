"""Components as plain data + pure functions, so the event engine and the fast engine share them."""

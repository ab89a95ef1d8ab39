"""Who may call /api/*: Cognito access tokens verified here, and whose data they may touch.

- jwks.py      the signing keys: fetched once, cached, refetched on an unknown kid (bounded)
- tokens.py    verify one token (PyJWT, RS256 only) into a Principal; verified tokens are
               cached by their exact string until they expire
- guard.py     the ASGI middleware: 401/503 before anything else runs; who owns which user
- devkeys.py   the local dev issuer (local stage only) and token minting

Submodules are imported directly; this package imports nothing, so the ops CLI stays light.
"""

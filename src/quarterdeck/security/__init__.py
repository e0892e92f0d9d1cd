"""Domain-free security primitives: password hashing, signed tokens, opaque keys, sealed secrets, redaction.

Nothing here touches the database or HTTP; ``api/`` and ``store/`` import the modules they need
(``quarterdeck.security.tokens``, …). The package itself imports none of them, so reading a redactor does not
pay for JWT and the key ring's cryptography (``quarterdeck status`` starts faster).
"""

"""Built-in site profiles, kept as data: a ``[profiles.NAME]`` table in a config overrides them."""

"""The world: cities (:mod:`.city`, :mod:`.layouts`), their looks (:mod:`.styles`), routes and their rails
(:mod:`.routes`), direction words and instruction sentences (:mod:`.instructions`), geographic conversion
(:mod:`.geo`).
"""

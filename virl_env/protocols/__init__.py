"""The evaluation protocols of V-IRL: what the model reads and how a route is walked under the suite's rules and
the paper authors'.
"""

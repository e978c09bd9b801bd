"""A reference model server for modelops: what a real model pod looks like from outside.

Python's standard library only, so its image needs no pip and builds in seconds on the Debian
base. ``textmodel`` (tokens and a naive-Bayes sentiment classifier) and ``api`` (request parsing
and OpenAI-shaped answers) are pure; ``server`` does the HTTP and reads the environment;
``train`` turns ``data/sentiment.csv`` into the weights file at image build time.
"""
